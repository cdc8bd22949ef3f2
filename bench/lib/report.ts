import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { ScenarioName, Transport } from './options.js';
import { round } from './stats.js';

/** What a scenario measured, before the harness adds where and when. */
export interface Measured {
  /** What `value` is: `throughput`, `enqueue-rate`, `latency-p50`, `rss-growth`. */
  metric: string;
  /** laterz's figure: the median over runs. */
  value: number;
  unit: string;
  /** Whether a higher value is better (ratios and the "best peer" follow it). */
  better: 'higher' | 'lower';
  /** Each run's figure. */
  runs: number[];
  /** Latency scenarios: medians over runs of each run's p50 and p99 (ms). */
  p50?: number;
  p99?: number;
  /** How it was measured: sizes, settings, method. */
  params: Record<string, unknown>;
  /** Peers' figures (median over runs) by name, when run with --peers. */
  peers?: Record<string, number>;
  peerRuns?: Record<string, number[]>;
  /** Peers' latency percentiles. */
  peerLatency?: Record<string, { p50: number; p99: number }>;
  /** Further figures of the same scenario, each shown as a table line of its own. */
  also?: AlsoMeasured[];
  /** Anything else worth keeping (samples, counts). */
  details?: Record<string, unknown>;
}

/** E.g. noop-drain on a table with history, or the DAG's own noop-drain baseline. */
export interface AlsoMeasured {
  label: string;
  metric: string;
  value: number;
  unit: string;
  runs?: number[];
  /** Shown in the last column, e.g. `0.93 × fresh table`. */
  note?: string;
}

export interface BenchResult extends Measured {
  scenario: ScenarioName;
  transport: Transport;
  system: 'laterz';
  /** laterz ÷ best peer (best by `better`); > 1 means laterz's figure is the larger. */
  ratio?: number;
  bestPeer?: string;
  when: string;
  /** The bench's arguments, e.g. `noop-drain --peers`. */
  command: string;
  environment: Record<string, unknown>;
}

/** laterz ÷ the best peer's figure, where best follows `better`. */
export function compareToPeers(m: Measured): { ratio?: number; bestPeer?: string } {
  const entries = Object.entries(m.peers ?? {});
  if (entries.length === 0) return {};
  const [bestPeer, best] = entries.reduce((a, b) => ((m.better === 'higher' ? b[1] > a[1] : b[1] < a[1]) ? b : a));
  return { ratio: round(m.value / best), bestPeer };
}

/** The commit measured, and whether the work tree differed from it. */
function gitState(): { commit: string; dirty: boolean } | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return { commit, dirty };
  } catch {
    return undefined;
  }
}

export async function environment(server: { version: string; settings: Record<string, string> }): Promise<Record<string, unknown>> {
  return {
    git: gitState(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: round(totalmem() / 2 ** 30),
    postgres: server.version,
    postgresSettings: server.settings,
  };
}

/** Writes `<outDir>/<scenario>.<transport>.json`; returns its path. */
export async function writeResult(outDir: string, result: BenchResult): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const path = join(outDir, `${result.scenario}.${result.transport}.json`);
  await writeFile(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
}

function formatNumber(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '';
  return round(value).toLocaleString('en-US');
}

/** One line per system and scenario: laterz first, then its peers. */
export function formatTable(results: BenchResult[]): string {
  const header = ['scenario', 'system', 'metric', 'value', 'unit', 'p50 ms', 'p99 ms', 'runs', 'ratio'];
  const rows: string[][] = [];
  for (const r of results) {
    rows.push([
      r.scenario,
      `laterz (${r.transport})`,
      r.metric,
      formatNumber(r.value),
      r.unit,
      formatNumber(r.p50),
      formatNumber(r.p99),
      r.runs.map((v) => formatNumber(v)).join(' / '),
      r.ratio === undefined ? '' : `${formatNumber(r.ratio)} × ${r.bestPeer}`,
    ]);
    for (const [name, value] of Object.entries(r.peers ?? {})) {
      const lat = r.peerLatency?.[name];
      rows.push(['', name, r.metric, formatNumber(value), r.unit, formatNumber(lat?.p50), formatNumber(lat?.p99), (r.peerRuns?.[name] ?? []).map((v) => formatNumber(v)).join(' / '), '']);
    }
    for (const a of r.also ?? []) {
      rows.push(['', a.label, a.metric, formatNumber(a.value), a.unit, '', '', (a.runs ?? []).map((v) => formatNumber(v)).join(' / '), a.note ?? '']);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 3 && i <= 6 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
