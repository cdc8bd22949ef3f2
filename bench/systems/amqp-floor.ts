import { once } from 'node:events';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { Client, Pool } from 'pg';
import { AppConfig } from '../../src/config/app-config.js';
import { runMigrations } from '../../src/database/migrate.js';
import { Coalescer } from '../../src/tasks/enqueue-batcher.js';
import { wallMs } from '../lib/clock.js';
import { reportStarted, tellBench } from '../lib/ipc.js';
import type { WorkerSpec } from '../lib/workers.js';
import { AmqplibClient, AmqplibSystem, connectAmqp, consumeKinds, JOB_KINDS, KindQueues, kindQueues } from './amqplib.js';
import { peerWorkerSpecs } from './peer-worker.js';
import type { JobKind, JobPayload } from './system.js';

const FUNC: Record<JobKind, string> = { noop: 'floor.noop', latency: 'floor.latency' };

/** The job's row, as enqueue writes it (without its identity key): $1 func, $2 the args of each row. */
const INSERT_ROWS = `
  INSERT INTO task (collection, func, args, args_hash, status, size_bytes)
  SELECT 'default', $1, a::jsonb, sha256(convert_to(a, 'UTF8')), 'queued', octet_length(a) FROM unnest($2::text[]) a
  RETURNING id::text AS id`;
/** Started, with the attempt as the fencing token; the args come back (the message carries only the id). */
const CLAIM = {
  name: 'floor_claim',
  text: `UPDATE task SET status = 'started', attempt = attempt + 1, worker = $2, date_started = now(), date_modified = now()
          WHERE id = ANY($1::bigint[]) AND status = 'queued'
         RETURNING id::text AS id, func, args`,
};
const FINISH = {
  name: 'floor_finish',
  text: `UPDATE task SET status = 'success', result = 'null', date_finished = now(), date_modified = now()
          WHERE id = ANY($1::bigint[]) AND status = 'started'`,
};

/** The floor writes laterz's own task table, in the user's DB_SCHEMA. */
function pgOptions(schema: string): string {
  return `-c search_path=${schema} -c jit=off`;
}

/**
 * The floor of laterz's AMQP design on this machine: the raw amqplib baseline (persistent
 * messages, confirms, manual acks, prefetch, the same queue arguments and worker processes) plus
 * the database writes no implementation of that design can skip. A job's row is committed before
 * its message (which carries only the id) is published, is marked started, committed, before its
 * handler runs (and only then acked), and is marked done after. Bare statements on laterz's own
 * task table: one claim and one `multiple` ack per batch of deliveries, gathered as laterz's
 * consumer gathers them, and one finish for the batches finished meanwhile (both through the
 * engine's Coalescer); no identity keys, dependencies, advisory locks, attempts, logs or
 * metrics. Neither laterz's code nor anything built on this schema and broker can beat it here.
 */
export class AmqpFloorSystem extends AmqplibSystem {
  override readonly name = 'pg+amqplib floor';
  protected override readonly label = 'floor';

  override get settings(): Record<string, unknown> {
    return { ...this.tuning, persistent: true, confirms: true, ack: 'manual, one multiple ack per batch', statements: 'INSERT per enqueue call; claim UPDATE per batch; finish UPDATE per batches finished meanwhile' };
  }

  override async install(url: string): Promise<void> {
    await runMigrations(AppConfig.fromEnv({ DATABASE_URL: url, DB_SCHEMA: this.userSettings.dbSchema, PIPELINE_ENABLED: 'false' }), url);
    await super.install(url);
  }

  override workers(url: string, count: number): WorkerSpec[] {
    const tuning: FloorWorkerTuning = { ...this.tuning, queues: kindQueues(this.userSettings, url, this.label), amqpUrl: this.amqpUrl, schema: this.userSettings.dbSchema };
    return peerWorkerSpecs(this.name, { BENCH_PEER: 'amqp-floor', BENCH_PEER_URL: url, BENCH_PEER_TUNING: JSON.stringify(tuning) }, count);
  }

  override async open(url: string): Promise<AmqpFloorClient> {
    const connection = await connectAmqp(this.amqpUrl);
    const channel = await connection.createConfirmChannel();
    const pool = new Pool({ connectionString: url, max: 4, application_name: 'laterz-bench-floor', options: pgOptions(this.userSettings.dbSchema) });
    return new AmqpFloorClient(connection, channel, kindQueues(this.userSettings, url, this.label), pool);
  }
}

/** The raw client, with each job's row written (committed) before its message, which names only the row. */
export class AmqpFloorClient extends AmqplibClient {
  constructor(
    connection: ChannelModel,
    channel: ConfirmChannel,
    queues: Record<JobKind, string>,
    private readonly pool: Pool,
  ) {
    super(connection, channel, queues);
  }

  /** The rows in one statement (committed: the drain's clock starts), then every message, then every confirm. */
  override async seedNoop(n: number): Promise<number> {
    const args = Array.from({ length: n }, (_, k) => JSON.stringify({ i: k + 1 }));
    const { rows } = await this.pool.query<{ id: string }>(INSERT_ROWS, [FUNC.noop, args]);
    const visible = wallMs();
    for (const row of rows) if (!this.send('noop', message(row.id))) await once(this.channel, 'drain');
    await this.channel.waitForConfirms();
    this.published.noop += n;
    return visible;
  }

  /** The row (autocommit), then its message; resolved by the confirm, as laterz's enqueue is. */
  override async enqueue(kind: JobKind, payload: JobPayload): Promise<void> {
    const { rows } = await this.pool.query<{ id: string }>(INSERT_ROWS, [FUNC[kind], [JSON.stringify(payload)]]);
    await this.sendConfirmed(kind, message(rows[0].id));
    this.published[kind]++;
  }

  override async close(): Promise<void> {
    await super.close();
    await this.pool.end();
  }
}

/** laterz's message shape: the task's collection and id, nothing else. */
function message(taskId: string): { collection: string; taskId: string } {
  return { collection: 'default', taskId };
}

interface FloorWorkerTuning extends KindQueues {
  amqpUrl: string;
  schema: string;
}

/** A delivery and the channel it came on (acked there). */
interface Held {
  message: ConsumeMessage;
  channel: Channel;
}

interface ClaimedRow {
  id: string;
  func: string;
  args: JobPayload;
}

/**
 * In a peer worker process: deliveries are gathered as laterz's consumer gathers them, by the
 * engine's own Coalescer (one turn of the event loop, or while the claim before them runs): claim
 * (on its own connection), ack up to the batch's last tag, run. Finishes coalesce the same way on a
 * second connection, beside the next claim, and report to the bench. Returns the stop.
 */
export async function startAmqpFloorWorker(url: string, tuning: FloorWorkerTuning): Promise<() => Promise<void>> {
  const worker = `floor:${process.pid}`;
  const claims = new Client({ connectionString: url, application_name: 'laterz-bench-floor', options: pgOptions(tuning.schema) });
  const finishes = new Client({ connectionString: url, application_name: 'laterz-bench-floor', options: pgOptions(tuning.schema) });
  await claims.connect();
  await finishes.connect();

  const claimer = new Coalescer<Held, ClaimedRow | undefined>(async (batch) => {
    const ids = batch.map((h) => (JSON.parse(h.message.content.toString('utf8')) as { taskId: string }).taskId);
    const { rows } = await claims.query<ClaimedRow>({ ...CLAIM, values: [ids, worker] });
    const last = batch.reduce((a, b) => (b.message.fields.deliveryTag > a.message.fields.deliveryTag ? b : a));
    last.channel.ack(last.message, true);
    for (const row of rows) if (row.func === FUNC.latency) reportStarted(row.args.t0!);
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id));
  }, tuning.prefetch);
  const finisher = new Coalescer<ClaimedRow, void>(async (rows) => {
    await finishes.query({ ...FINISH, values: [rows.map((r) => r.id)] });
    for (const kind of JOB_KINDS) {
      const count = rows.filter((r) => r.func === FUNC[kind]).length;
      if (count > 0) tellBench({ type: 'finished', kind, count });
    }
    return rows.map(() => undefined);
  });
  const failed = (err: Error) => {
    console.error(`floor worker: ${err.message}`);
    process.exit(1);
  };

  // Which queue a delivery came from does not matter: the claimed row's func tells its kind.
  const stop = await consumeKinds(tuning.amqpUrl, tuning, (_kind, message, channel) => {
    claimer
      .add({ message, channel })
      .then((row) => row && finisher.add(row))
      .catch(failed);
  });
  return async () => {
    await stop();
    await claims.end();
    await finishes.end();
  };
}
