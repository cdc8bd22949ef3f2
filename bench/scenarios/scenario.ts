import type { BenchOptions, ScenarioName } from '../lib/options.js';
import type { Measured } from '../lib/report.js';
import type { Laterz } from '../systems/laterz.js';
import type { QueueSystem } from '../systems/system.js';

export interface ScenarioContext {
  options: BenchOptions;
  laterz: Laterz;
  /** The peers to compare with (none without --peers), each at its best settings for `use`. */
  peers(use: 'drain' | 'enqueue' | 'latency'): QueueSystem[];
}

export interface Scenario {
  name: ScenarioName;
  /** One line for `--help` and the JSON's params. */
  description: string;
  run(ctx: ScenarioContext): Promise<Measured>;
}
