import { execFile } from 'node:child_process';
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/*
 * Scenario 2 restarts the machine's one RabbitMQ (there is no private broker to start): gracefully
 * with `rabbitmqctl stop_app` / `start_app`, and hard by SIGKILL of its Erlang VM (found by the
 * pid the node reports for itself) and `rabbitmq-server -detached`. `ensureRunning` is always
 * called afterwards (in a finally), so the broker other people use is left up.
 */

const COMMAND_TIMEOUT_MS = 90_000;

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(command, args, { timeout: COMMAND_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${(stderr || err.message).trim().split('\n')[0]}`));
      else resolve(stdout);
    }),
  );
}

/** Whether something accepts TCP connections at host:port. */
export function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

async function waitReachable(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await reachable(host, port))) {
    if (Date.now() > deadline) throw new Error(`RabbitMQ at ${host}:${port} not back after ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

export class RabbitMq {
  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  static fromUrl(url: string): RabbitMq {
    const u = new URL(url);
    return new RabbitMq(u.hostname === 'localhost' ? '127.0.0.1' : u.hostname, Number(u.port || 5672));
  }

  /** Graceful: the node stays, the broker application stops (connections closed, queues kept). */
  async stopApp(): Promise<void> {
    await run('rabbitmqctl', ['stop_app']);
  }

  async startApp(): Promise<void> {
    await run('rabbitmqctl', ['start_app']);
    await waitReachable(this.host, this.port, 60_000);
  }

  /** Hard: SIGKILL of the broker's Erlang VM (by the pid it reports); returns that pid. */
  async kill(): Promise<number> {
    const out = await run('rabbitmqctl', ['eval', 'list_to_integer(os:getpid()).']);
    const pid = Number(out.trim());
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`rabbitmqctl reported no pid (${out.trim()})`);
    process.kill(pid, 'SIGKILL');
    return pid;
  }

  async startServer(): Promise<void> {
    await run('rabbitmq-server', ['-detached']);
    await run('rabbitmqctl', ['await_startup']).catch(() => undefined);
    await waitReachable(this.host, this.port, 90_000);
  }

  /** Brings the broker back whatever state a scenario left it in. */
  async ensureRunning(): Promise<void> {
    if (await reachable(this.host, this.port)) return;
    try {
      await this.startApp();
      return;
    } catch {
      // The node itself is gone: start it.
    }
    await this.startServer();
  }
}
