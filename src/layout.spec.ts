import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// The layout checks of issue 15 (STYLE.md, "Layout"): the top-level folders of src/ import each other
// one way only, no file is over 400 lines, no provider injects more than 6 dependencies; only database/
// holds a `pg` connection, only gateways (`*.gateway.ts`) run what sql/ files hold, and SQL text is
// written in sql/ files only.
// Every import counts, `import type` included: a type-only arrow still couples two folders, and a
// cycle hidden behind `type` is one `import` away from a real one. Files directly in src/ (app.module,
// bootstrap, main, index, …) are the wiring: each is its own node, so it may import any folder, and a
// folder that imports one back closes a cycle like any other.

const SRC = dirname(fileURLToPath(import.meta.url));
const MAX_LINES = 400;
const MAX_CONSTRUCTOR_DEPS = 6;

const sources: { file: string; source: ts.SourceFile }[] = walk(SRC).map((file) => ({
  file,
  source: ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true),
}));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return walk(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every module specifier the file names: import/export … from (type-only too), import x = require(), import('…'). */
function specifiers(source: ts.SourceFile): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isExternalModuleReference(node) && ts.isStringLiteral(node.expression)) {
      found.push(node.expression.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The top-level folder of src/ a path lies in (or the file itself, directly in src/); undefined outside src/. */
function folderOf(path: string): string | undefined {
  const rel = relative(SRC, path).replace(/\.js$/, '.ts');
  return rel.startsWith('..') ? undefined : rel.split(sep)[0];
}

type Graph = Map<string, Map<string, string>>; // from folder -> to folder -> one example import

function folderGraph(): Graph {
  const graph: Graph = new Map();
  for (const { file, source } of sources) {
    const from = folderOf(file)!;
    for (const spec of specifiers(source)) {
      if (!spec.startsWith('.')) continue; // a package
      const to = folderOf(resolve(dirname(file), spec));
      if (to === undefined || to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, `${relative(SRC, file)} imports '${spec}'`);
      graph.set(from, edges);
    }
  }
  return graph;
}

/** For each edge on a cycle, the shortest cycle through it (once each), every arrow with an example import. */
function cycles(graph: Graph): string[] {
  const path = (start: string, goal: string): string[] | undefined => {
    const previous = new Map<string, string>([[start, start]]);
    const queue = [start];
    for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
      if (node === goal) {
        const steps = [goal];
        while (steps[0] !== start) steps.unshift(previous.get(steps[0])!);
        return steps;
      }
      for (const next of [...(graph.get(node)?.keys() ?? [])].sort()) {
        if (previous.has(next)) continue;
        previous.set(next, node);
        queue.push(next);
      }
    }
    return undefined;
  };
  const found = new Map<string, string>(); // one entry per cycle, whichever edge found it
  for (const [from, edges] of graph) {
    for (const to of edges.keys()) {
      const back = path(to, from);
      if (!back) continue;
      const loop = [from, ...back.slice(0, -1)];
      const first = loop.indexOf([...loop].sort()[0]);
      const ring = [...loop.slice(first), ...loop.slice(0, first + 1)];
      if (found.has(ring.join())) continue;
      const arrows = ring.slice(1).map((node, i) => `    ${ring[i]} -> ${node}: ${graph.get(ring[i])!.get(node)}`);
      found.set(ring.join(), `${ring.join(' -> ')}\n${arrows.join('\n')}`);
    }
  }
  return [...found.values()].sort();
}

const isSpec = (file: string): boolean => file.endsWith('.spec.ts');
const inSqlFolder = (file: string): boolean => relative(SRC, file).split(sep).includes('sql');
const inDatabase = (file: string): boolean => folderOf(file) === 'database';
const isGateway = (file: string): boolean => file.endsWith('.gateway.ts');

/** `file imports 'spec'` for every import the rule refuses. */
function importsBreaking(allowed: (file: string) => boolean, refused: (spec: string, file: string) => boolean): string[] {
  return sources
    .filter(({ file }) => !isSpec(file) && !allowed(file))
    .flatMap(({ file, source }) => specifiers(source).filter((spec) => refused(spec, file)).map((spec) => `${relative(SRC, file)} imports '${spec}'`));
}

/**
 * What SQL text looks like, in capitals as every sql/ file writes it: a statement's first words, or a
 * template's head that a statement continues (`LISTEN ${…}`). Log lines that start with a keyword
 * ("LISTEN connection lost") do not match.
 */
const SQL_START =
  /^\s*(SELECT\s+(\S+\s+(FROM|AS)\b|\S+\(|\d\b|\*)|INSERT INTO\s|UPDATE\s+\S+\s+SET\s|DELETE FROM\s|WITH\s+\S+\s+AS\b|(BEGIN|COMMIT|ROLLBACK)\s*$|SET\s+(LOCAL\s+)?\w+\s*(=|TO\s)|(UN)?LISTEN\s*("|$)|NOTIFY\s+\w+\s*(,|$)|(CREATE|ALTER|DROP)\s+(TABLE|SCHEMA|DATABASE|INDEX|TYPE|FUNCTION)\b|TRUNCATE\s|VACUUM\b|ANALYZE\s*(\w+)?$|LOCK TABLE\s)/;

function sqlTextOutsideSql(): string[] {
  const found: string[] = [];
  for (const { file, source } of sources) {
    if (isSpec(file) || inSqlFolder(file)) continue;
    const visit = (node: ts.Node): void => {
      if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node)) && SQL_START.test(node.text)) {
        const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
        found.push(`${relative(SRC, file)}:${line + 1}: ${node.text.trim().split('\n')[0].slice(0, 60)}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

describe('layout of src/', () => {
  it('finds the cycle in a graph that has one, and none in one that has not', () => {
    const edge = (from: string, to: string): [string, Map<string, string>] => [from, new Map([[to, `${from}/x.ts`]])];
    expect(cycles(new Map([edge('a', 'b'), edge('b', 'c'), edge('c', 'a')]))).toHaveLength(1);
    expect(cycles(new Map([edge('a', 'b'), edge('b', 'c')]))).toEqual([]);
  });

  it('has no import cycle between its top-level folders', () => {
    expect(cycles(folderGraph())).toEqual([]);
  });

  it(`has no file over ${MAX_LINES} lines`, () => {
    const long = sources
      .map(({ file, source }) => ({ file: relative(SRC, file), lines: source.text.split('\n').length - (source.text.endsWith('\n') ? 1 : 0) }))
      .filter(({ lines }) => lines > MAX_LINES);
    expect(long).toEqual([]);
  });

  it(`has no @Injectable provider with more than ${MAX_CONSTRUCTOR_DEPS} constructor dependencies`, () => {
    const crowded: string[] = [];
    for (const { file, source } of sources) {
      const visit = (node: ts.Node): void => {
        if (ts.isClassDeclaration(node) && ts.getDecorators(node)?.some((d) => d.expression.getText(source).startsWith('Injectable('))) {
          const ctor = node.members.find(ts.isConstructorDeclaration);
          const count = ctor?.parameters.length ?? 0;
          if (count > MAX_CONSTRUCTOR_DEPS) crowded.push(`${relative(SRC, file)}: ${node.name?.text} has ${count}`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(crowded).toEqual([]);
  });

  it('lets only database/ import pg', () => {
    expect(importsBreaking(inDatabase, (spec) => spec === 'pg' || spec.startsWith('pg/'))).toEqual([]);
  });

  it('lets only gateways (*.gateway.ts), database/ and other sql/ files import a sql/ file', () => {
    const allowed = (file: string): boolean => isGateway(file) || inDatabase(file) || inSqlFolder(file);
    expect(importsBreaking(allowed, (spec) => spec.startsWith('.') && spec.split('/').includes('sql'))).toEqual([]);
  });

  it('tells SQL text from log lines that start with a keyword', () => {
    const sql = ['SELECT 1', 'SELECT pg_notify($1, $2)', 'SELECT id FROM task', 'WITH done AS (', 'UPDATE task SET status', 'BEGIN', 'LISTEN ', 'SET LOCAL enable_seqscan = off'];
    const prose = ['LISTEN connection lost', 'NOTIFY failed: ', 'Select a queue', 'UPDATE failed', 'BEGIN of the run'];
    expect(sql.filter((t) => !SQL_START.test(t))).toEqual([]);
    expect(prose.filter((t) => SQL_START.test(t))).toEqual([]);
  });

  it('writes SQL text in sql/ files only', () => {
    expect(sqlTextOutsideSql()).toEqual([]);
  });
});
