import { EmbeddedPostgresStartError } from './start-failure.js';
import { ProgramOptions, ServerProcess } from './server-process.js';

/** A stand-in for `postgres` (node itself): says `ready` or not, and ignores the signals named. */
function fakeServer(ready: boolean, ignored: string[]): string[] {
  const script = [
    ...ignored.map((signal) => `process.on('${signal}', () => console.log('ignored ${signal}'));`),
    ready ? `console.log('LOG:  database system is ready to accept connections');` : '',
    'setInterval(() => undefined, 1000);',
  ].join('\n');
  return ['-e', script];
}

function options(lines: string[], extra: Partial<ProgramOptions> = {}): ProgramOptions {
  return { onLog: (line) => lines.push(line), port: 5999, pgDir: '/nowhere/pg', readyTimeoutMs: 300, stopStepMs: 300, ...extra };
}

describe('ServerProcess: no unbounded wait', () => {
  it('a server that never accepts connections is stopped after readyTimeoutMs and the error says so', async () => {
    const lines: string[] = [];
    const error = await ServerProcess.start(process.execPath, fakeServer(false, []), options(lines)).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(EmbeddedPostgresStartError);
    expect((error as Error).message).toMatch(/did not accept connections within 0.3 s and was stopped/);
  });

  it('stop() goes on to SIGQUIT, then SIGKILL, when the server ignores the fast shutdown', async () => {
    const lines: string[] = [];
    const server = await ServerProcess.start(process.execPath, fakeServer(true, ['SIGINT', 'SIGQUIT']), options(lines));
    await server.stop();
    expect(lines).toEqual(expect.arrayContaining(['ignored SIGINT', 'ignored SIGQUIT']));
  });

  it('stop() ends at the fast shutdown when the server honours it', async () => {
    const lines: string[] = [];
    const server = await ServerProcess.start(process.execPath, fakeServer(true, []), options(lines, { stopStepMs: 60_000 }));
    await server.stop();
    expect(lines.some((line) => line.startsWith('ignored'))).toBe(false);
  });
});
