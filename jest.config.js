// Jest runs the TypeScript sources as native ESM through @swc/jest (decorators + metadata);
// type checking is `npm run typecheck`'s job, not the test runner's.
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': swc },
  testEnvironment: 'node',
};
export default {
  // Jest reads testTimeout from the top level only (a project's own testTimeout is ignored).
  // Integration tests boot whole apps and child processes; 60 s is for slow machines, not for sleeping.
  testTimeout: 60000,
  projects: [
    // Unit tests: beside the code (src/ and examples/), the pure parts of the chaos suite and the benchmarks, and the
    // package's engines check.
    { ...common, displayName: 'unit', roots: ['<rootDir>/src', '<rootDir>/examples', '<rootDir>/test/chaos', '<rootDir>/test/package', '<rootDir>/bench'], testMatch: ['**/*.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.int-spec.ts', '**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/helpers/global-setup.mjs',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.mjs',
    },
    // The npm package: packed from dist/, installed in a fresh project outside the repository (no database).
    { ...common, displayName: 'package', roots: ['<rootDir>/test/package'], testMatch: ['**/*.pkg-spec.ts'] },
  ],
};
