import 'reflect-metadata';
import { describeServer } from './lib/databases.js';
import { BenchOptions, parseOptions, ScenarioName, USAGE } from './lib/options.js';
import { BenchResult, compareToPeers, environment, formatTable, writeResult } from './lib/report.js';
import { bulk } from './scenarios/bulk.js';
import { dag } from './scenarios/dag.js';
import { dispatcherTick } from './scenarios/dispatcher-tick.js';
import { enqueue } from './scenarios/enqueue.js';
import { ingest } from './scenarios/ingest.js';
import { isolation } from './scenarios/isolation.js';
import { isolationMemory } from './scenarios/isolation-memory.js';
import { latency } from './scenarios/latency.js';
import { memory } from './scenarios/memory.js';
import { noopDrain } from './scenarios/noop-drain.js';
import { periodic } from './scenarios/periodic.js';
import { scheduled } from './scenarios/scheduled.js';
import { stats } from './scenarios/stats.js';
import type { Scenario, ScenarioContext } from './scenarios/scenario.js';
import { Laterz } from './systems/laterz.js';
import { peersFor } from './systems/peers.js';

const SCENARIOS: Record<ScenarioName, Scenario> = {
  'noop-drain': noopDrain,
  enqueue,
  latency,
  dag,
  memory,
  'dispatcher-tick': dispatcherTick,
  stats,
  bulk,
  ingest,
  periodic,
  scheduled,
  isolation,
  'isolation-memory': isolationMemory,
};

async function main(options: BenchOptions): Promise<number> {
  const server = await describeServer(options.serverUrl);
  const env = await environment(server);
  const laterz = new Laterz({ transport: options.transport, amqpUrl: options.amqpUrl, settings: options.settings, worker: options.worker });
  const ctx: ScenarioContext = { options, laterz, peers: (use) => (options.peers ? peersFor(use, options) : []) };

  const results: BenchResult[] = [];
  const failed: string[] = [];
  for (const name of options.scenarios) {
    const scenario = SCENARIOS[name];
    console.error(`${name}: ${scenario.description} (${options.transport}${options.quick ? ', quick' : ''})`);
    const startedAt = Date.now();
    try {
      const measured = await scenario.run(ctx);
      const result: BenchResult = {
        scenario: name,
        transport: options.transport,
        system: 'laterz',
        ...measured,
        ...compareToPeers(measured),
        params: { ...measured.params, runs: measured.runs.length, quick: options.quick },
        when: new Date().toISOString(),
        command: process.argv.slice(2).join(' '),
        environment: env,
      };
      results.push(result);
      const path = await writeResult(options.outDir, result);
      console.error(`  → ${path} (${Math.round((Date.now() - startedAt) / 1000)} s)`);
    } catch (err) {
      failed.push(name);
      console.error(`  ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  if (results.length > 0) console.log(`\n${formatTable(results)}`);
  if (failed.length > 0) console.error(`\nfailed: ${failed.join(', ')}`);
  return failed.length > 0 ? 1 : 0;
}

let options: BenchOptions | 'help';
try {
  options = parseOptions(process.argv.slice(2), process.env);
} catch (err) {
  console.error(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (options === 'help') {
  console.log(USAGE);
  process.exit(0);
}
// Exit explicitly: a pool or timer a library leaves behind must not keep the bench alive.
main(options).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
