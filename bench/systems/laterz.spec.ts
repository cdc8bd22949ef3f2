import { NO_ENV_FILE } from '../../src/config/env-file.js';
import { Laterz } from './laterz.js';

describe('Laterz (bench)', () => {
  it("starts its worker processes on the bench's settings only: no .env of the working directory (it could name AMQP_URL on the PostgreSQL transport)", () => {
    const laterz = new Laterz({ transport: 'postgres', amqpUrl: '', settings: { amqpPrefix: 'laterz', dbSchema: 'laterz' }, worker: { concurrency: 4, batchSize: 4 } });
    const [worker] = laterz.workers('postgres://bench@127.0.0.1:5432/laterz_bench_x', 1);
    expect(worker.env.ENV_FILE).toBe(NO_ENV_FILE);
    expect(worker.env.AMQP_URL).toBeUndefined();
  });
});
