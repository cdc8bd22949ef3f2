import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Example, Fault, Figures } from './checker.js';
import type { Sizes, Transport } from './options.js';
import type { CheckResult } from './scenarios.js';

/** One scenario on one transport, as printed and as kept in bench-results/chaos.json. */
export interface ScenarioResult {
  scenario: number;
  name: string;
  title: string;
  transport: Transport;
  mode: Sizes['mode'];
  passed: boolean;
  /** Why it did not run (e.g. scenario 2 on the PostgreSQL transport). */
  skipped?: string;
  /** What stopped the run itself (a process that never became ready, …). */
  error?: string;
  figures?: Figures;
  checks: CheckResult[];
  examples: Example[];
  faultsByKind: Record<string, number>;
  params: Record<string, unknown>;
  when: string;
  durationSeconds: number;
}

const COLUMNS: [string, (r: ScenarioResult) => string][] = [
  ['#', (r) => String(r.scenario)],
  ['scenario', (r) => r.name],
  ['transport', (r) => r.transport],
  ['tasks', (r) => num(r.figures?.tasks)],
  ['execs', (r) => num(r.figures?.executions)],
  ['lost', (r) => num(r.figures?.lost)],
  ['overlap', (r) => num(r.figures?.overlapping)],
  ['stale', (r) => num(r.figures?.stale)],
  ['dup', (r) => num(r.figures?.duplicateCommits)],
  ['killed', (r) => num(r.figures?.killed)],
  ['handed back', (r) => num(r.figures?.handedBack)],
  ['faults', (r) => num(r.figures?.faults)],
  ['final after s', (r) => num(r.figures?.totalSeconds)],
  ['settle s', (r) => num(r.figures?.settleSeconds)],
  ['tasks/s', (r) => num(r.figures?.throughput)],
  ['result', (r) => (r.skipped ? 'skipped' : !r.passed ? 'FAIL' : r.checks.some((c) => !c.ok) ? 'pass*' : 'pass')],
];

function num(v: number | null | undefined): string {
  return v === undefined ? '-' : v === null ? 'never' : v.toLocaleString('en-US');
}

/** The table of every run, then what failed and why. */
export function formatTable(results: ScenarioResult[]): string {
  const rows = results.map((r) => COLUMNS.map(([, f]) => f(r)));
  const widths = COLUMNS.map(([h], i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i <= 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const out = [line(COLUMNS.map(([h]) => h)), `|${widths.map((w, i) => (i <= 2 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)];
  for (const r of results) {
    if (r.skipped) {
      out.push(`\n${r.scenario} ${r.name} (${r.transport}): skipped: ${r.skipped}`);
      continue;
    }
    const failed = r.checks.filter((c) => !c.ok);
    if (r.passed && failed.length === 0) continue;
    const verdict = r.passed ? 'passed; expectations not met (*)' : 'FAILED';
    out.push(`\n${r.scenario} ${r.name} (${r.transport}) ${verdict}${r.error ? `: ${r.error}` : ''}`);
    for (const c of failed) out.push(`  ✗ ${c.name}${c.soft ? ' (expectation)' : ''}: ${c.detail}`);
    for (const e of r.examples) out.push(`    ${e.figure}: ${e.text}`);
  }
  return out.join('\n');
}

/** Each run's own checks, one line each. */
export function formatChecks(r: ScenarioResult): string {
  return r.checks.map((c) => `    ${c.ok ? '✓' : '✗'} ${c.name}${c.soft ? ' (expectation)' : ''}: ${c.detail}`).join('\n');
}

/**
 * Writes the results into `file`, keeping earlier results of other scenarios, transports and
 * modes (a `--scenario 1` run replaces only scenario 1's line of its mode and transport).
 */
export function writeResults(file: string, results: ScenarioResult[], environment: Record<string, unknown>): void {
  const key = (r: ScenarioResult) => `${r.mode}:${r.transport}:${r.scenario}`;
  let previous: ScenarioResult[] = [];
  if (existsSync(file)) {
    try {
      previous = (JSON.parse(readFileSync(file, 'utf8')) as { results?: ScenarioResult[] }).results ?? [];
    } catch {
      previous = [];
    }
  }
  const fresh = new Set(results.map(key));
  const merged = [...previous.filter((r) => !fresh.has(key(r))), ...results].sort(
    (a, b) => a.mode.localeCompare(b.mode) || a.transport.localeCompare(b.transport) || a.scenario - b.scenario,
  );
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ suite: 'chaos', updated: new Date().toISOString(), environment, results: merged }, null, 2) + '\n');
}

/** How many faults of each kind a run injected. */
export function countFaults(faults: Fault[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of faults) out[f.kind] = (out[f.kind] ?? 0) + 1;
  return out;
}
