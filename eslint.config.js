import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'bench-results/', 'coverage/', 'examples/hello-dag/dist/', 'examples/hello-dag/data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'off',
      'no-console': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/config/**'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read settings through AppConfig (src/config), not process.env.' }],
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // The AMQP client libraries stay inside the transport (bench/ and test/ use amqplib for raw baselines).
    files: ['src/**/*.ts'],
    ignores: ['src/broker/amqp/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'amqplib', message: 'Only src/broker/amqp may use amqplib.' },
            { name: 'amqp-connection-manager', message: 'Only src/broker/amqp may use amqp-connection-manager.' },
          ],
        },
      ],
    },
  },
  {
    // An example is an app on the engine: it imports laterz through its public surface only.
    files: ['examples/**/*.ts'],
    ignores: ['examples/hello-dag/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/src/**', '!**/src/index.js'], message: 'Examples import laterz through src/index.ts only.' }] },
      ],
    },
  },
  {
    // hello-dag is an app of its own, built outside the repository: 'laterz' (the package) and its own files only.
    files: ['examples/hello-dag/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../../*'], message: 'hello-dag imports the laterz package, never the repository.' }] }],
    },
  },
  {
    // The engine knows no example; the service's entry (src/main.ts) is what passes the pipeline in.
    files: ['src/**/*.ts'],
    ignores: ['src/main.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/examples/**'], message: 'Only src/main.ts wires in an example.' }] }],
    },
  },
);
