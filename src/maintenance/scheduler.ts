import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';

/**
 * Registers `tick` with @nestjs/schedule's registry at a configured interval (seconds come from
 * the env, which a static @Cron expression cannot read). A tick still running when the next one
 * is due is not started twice in this process; the job's advisory lock covers other replicas.
 */
export function scheduleInterval(registry: SchedulerRegistry, name: string, everyMs: number, tick: () => Promise<unknown>, logger: Logger): void {
  let running = false;
  const timer = setInterval(() => {
    if (running) {
      logger.debug(`${name}: previous run still going, tick skipped`);
      return;
    }
    running = true;
    tick()
      .catch((err: Error) => logger.error(`${name} failed: ${err.message}`))
      .finally(() => (running = false));
  }, everyMs);
  timer.unref();
  registry.addInterval(name, timer);
}
