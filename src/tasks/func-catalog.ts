import { Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Broker } from '../broker/broker.js';
import { AppConfig } from '../config/app-config.js';
import type { Db } from '../database/db.js';
import { CatalogFunc, claimableFuncs, mergeCatalog } from './func-decisions.js';
import { FuncGateway, RecordedFunc, ServedFunc } from './func.gateway.js';
import type { FailureHooks } from './failure-hooks.js';
import { RegisteredFunc, TaskRegistry } from './task-registry.js';

export type { CatalogFunc };

/** A name found nowhere is looked up in the database again at most this often. */
const MISS_REREAD_MS = 1000;
/** Servers not seen for this long (or 10 live windows, if longer) are deleted by the next beat anywhere. */
const FORGET_AFTER_SECONDS = 3600;

/**
 * The funcs this process can name: its own handlers (TaskRegistry) and those the database knows
 * (`func`, with their live servers in `func_server`). Enqueue, the dispatcher, stats and the API
 * ask it. Its copy of the database's funcs is re-read at each heartbeat (also in a process that
 * serves nothing), and on a miss (a name it does not know, at most once a second per name). It
 * also decides which of this process's funcs the worker claims now: not those a live server runs
 * at a newer version (a rolling deploy).
 */
@Injectable()
export class FuncCatalog {
  /** This process as a server: `host:pid:bootid` (two apps in one process are two servers). */
  readonly server = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly logger = new Logger(FuncCatalog.name);
  private recorded: RecordedFunc[] = [];
  /** When `recorded` was read (Date.now()); 0: never. */
  private readAt = 0;
  /** When this process's last beat was recorded; null before the first (or when it serves nothing). */
  private seenAt: Date | null = null;
  /** Built from the registry and `recorded` when first asked for after a change. */
  private view?: { entries: Map<string, CatalogFunc>; bulk: string[]; localCount: number };
  /** Names looked up after a miss: when, and the read that looked (a caller within the second waits for it). */
  private readonly misses = new Map<string, { at: number; read: Promise<unknown> }>();
  private claimableNow?: { funcs: RegisteredFunc[]; names: Set<string> };
  /** Served funcs a newer live server runs, with that version (logged once when it starts and ends). */
  private superseded = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private stopped = false;
  private beating?: Promise<void>;
  private started?: Promise<void>;

  constructor(
    private readonly registry: TaskRegistry,
    private readonly gateway: FuncGateway,
    private readonly config: AppConfig,
    private readonly broker: Broker,
  ) {}

  /** The process's failure hooks (the registry's), for the maintenance jobs that fail tasks for good. */
  get failureHooks(): FailureHooks {
    return this.registry.failureHooks;
  }

  /** Whether this process records funcs: the worker role serves its funcs, the scheduler role its bulk funcs. */
  get serving(): boolean {
    return this.config.has('worker') || this.config.has('scheduler');
  }

  /** The funcs this process serves: the worker role's non-bulk funcs (of WORKER_QUEUES, if set), the scheduler role's bulk ones. */
  served(): RegisteredFunc[] {
    const wanted = new Set(this.config.worker.queues);
    const worker = this.config.has('worker');
    const scheduler = this.config.has('scheduler');
    return this.registry.all().filter((f) => (f.bulk ? scheduler : worker && (wanted.size === 0 || wanted.has(f.queue))));
  }

  /** A func by name, from what the catalog knows now (see resolve for a miss). */
  get(name: string): CatalogFunc | undefined {
    return this.current().entries.get(name);
  }

  /** Every func the catalog knows, by name. */
  all(): CatalogFunc[] {
    return [...this.current().entries.values()];
  }

  /** Names of every bulk func known (their tasks go to pending, for a bulk runner, never to a queue). */
  bulkFuncs(): string[] {
    return this.current().bulk;
  }

  /** A func by name; one this process does not know is looked up in the database (at most once a second per name). */
  async resolve(name: string): Promise<CatalogFunc | undefined> {
    const known = this.get(name);
    if (known) return known;
    const now = Date.now();
    const miss = this.misses.get(name);
    if (miss && now - miss.at < MISS_REREAD_MS) {
      // Another caller's read of this name may still be in flight: its answer is this one's too.
      await miss.read;
      return this.get(name);
    }
    if (this.misses.size >= 10_000) this.misses.clear();
    const read = this.refresh();
    this.misses.set(name, { at: now, read: read.catch(() => undefined) });
    await read;
    return this.get(name);
  }

  /** Reads the database's funcs again (on `db` when given: the api role's pool); returns the catalog. */
  async refresh(db?: Db): Promise<CatalogFunc[]> {
    this.absorb(await this.gateway.readAll(this.liveSeconds, db));
    return this.all();
  }

  /** The catalog, read again first when the last read is older than `maxAgeMs`. */
  async fresh(maxAgeMs: number, db?: Db): Promise<CatalogFunc[]> {
    return Date.now() - this.readAt > maxAgeMs ? this.refresh(db) : this.all();
  }

  /** The first beat; later calls share it. */
  start(): Promise<void> {
    this.started ??= this.beat();
    return this.started;
  }

  /**
   * One heartbeat: records the funcs served here as live now, and reads the database's funcs. A
   * process that serves nothing only reads them: what it enqueues follows each func's current
   * version, queue group and options.
   */
  beat(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const beating = (this.beating ?? Promise.resolve()).then(async () => {
      if (this.stopped) return;
      const rows = this.serving
        ? await this.gateway.beat(this.server, this.served().map(servedFunc), this.liveSeconds, Math.max(FORGET_AFTER_SECONDS, 10 * this.liveSeconds))
        : await this.gateway.readAll(this.liveSeconds);
      if (this.stopped) return;
      if (this.serving) this.seenAt = new Date();
      this.absorb(rows);
    });
    this.beating = beating.catch(() => undefined);
    return beating;
  }

  /** Shutdown: no beat from now on, and this process's servers (if it serves) are deleted (after a beat in flight). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.beating;
    if (this.serving) await this.gateway.forgetServer(this.server);
  }

  /** The funcs this process serves and claims now: all but those a live server runs at a newer version. */
  claimable(): RegisteredFunc[] {
    return this.claimableState().funcs;
  }

  /** The names of claimable(), as one set kept between changes (the claim reads it per batch). */
  claimableNames(): ReadonlySet<string> {
    return this.claimableState().names;
  }

  /** Calls `listener` after each read that changed which funcs this process claims; returns an unsubscribe. */
  onClaimableChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The live window: a server not seen for three heartbeats is not live. */
  private get liveSeconds(): number {
    return (3 * this.config.funcHeartbeatMs) / 1000;
  }

  private absorb(rows: RecordedFunc[]): void {
    this.recorded = rows;
    this.readAt = Date.now();
    this.view = undefined;
    const { entries } = this.current();
    // Publishing a func this process has no handler for routes it to its recorded queue group.
    for (const f of entries.values()) {
      try {
        this.broker.registerQueues([{ func: f.name, queue: f.queue }]);
      } catch (err) {
        this.logger.warn(`func ${f.name}: ${(err as Error).message}`);
      }
    }
    this.decideClaimable();
  }

  private current(): { entries: Map<string, CatalogFunc>; bulk: string[] } {
    const localCount = this.registry.size;
    // Handlers registered since the last look (the registry fills at module init): decide again.
    if (this.view && this.view.localCount !== localCount) this.claimableNow = undefined;
    if (!this.view || this.view.localCount !== localCount) {
      const entries = mergeCatalog(this.registry.all(), this.recorded, {
        server: this.server,
        serves: new Set(this.served().map((f) => f.name)),
        seenAt: this.seenAt,
      });
      this.view = { entries, bulk: [...entries.values()].filter((f) => f.bulk).map((f) => f.name), localCount };
    }
    return this.view;
  }

  private claimableState(): { funcs: RegisteredFunc[]; names: Set<string> } {
    if (!this.claimableNow) this.decideClaimable();
    return this.claimableNow!;
  }

  /** Which served funcs are claimable now; logs each func that stops or resumes, and tells the listeners. */
  private decideClaimable(): void {
    const { claimable, superseded } = claimableFuncs(this.served(), this.current().entries);
    const before = this.claimableNow?.names;
    this.claimableNow = { funcs: claimable, names: new Set(claimable.map((f) => f.name)) };
    for (const [name, newer] of superseded) {
      if (this.superseded.get(name) === newer) continue;
      const mine = this.registry.version(name);
      this.logger.warn(`func ${name}: version ${newer} runs on a live server; this one (version ${mine}) stops claiming it until no newer server is live`);
    }
    for (const name of this.superseded.keys()) {
      if (!superseded.has(name)) this.logger.log(`func ${name}: no newer version is live any more; claiming it again`);
    }
    this.superseded = superseded;
    const changed = before !== undefined && (before.size !== this.claimableNow.names.size || [...before].some((n) => !this.claimableNow!.names.has(n)));
    if (changed) for (const listener of this.listeners) listener();
  }
}

function servedFunc(f: RegisteredFunc): ServedFunc {
  return {
    name: f.name,
    version: f.version,
    queue: f.queue,
    bulk: f.bulk,
    priority: f.priority,
    options: {
      timeoutMs: f.timeoutMs,
      ...(f.resyncMs === undefined ? {} : { resyncMs: f.resyncMs }),
      logArgs: f.logArgs,
      retry: f.retryJson,
      ...(f.expireInMs === undefined ? {} : { expireInMs: f.expireInMs }),
      ...(f.maxQueued === undefined ? {} : { maxQueued: f.maxQueued }),
    },
  };
}
