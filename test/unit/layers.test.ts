/**
 * The import rules of docs/architecture.md, read from the document itself so the map and
 * the check cannot drift apart:
 * - shared/'s folders in the order of its map, from the bottom up: a folder imports only
 *   folders listed before it (and its own);
 * - shared/ imports nothing outside shared/;
 * - cli/ imports neither functions/ nor agent/, except that the agent commands
 *   (cli/commands/agent*.ts) run the agent through its entry point, agent/main.ts;
 * - composition/ (the wiring of the Lambdas and of local mode) imports only shared/.
 * Imports are found with TypeScript's own scanner (static, re-exports, dynamic import()).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

/** shared/'s folders as the map in docs/architecture.md lists them, bottom first. */
function sharedOrder(architecture: string): string[] {
  const lines = architecture.split('\n');
  const start = lines.findIndex((l) => l.startsWith('shared/'));
  const end = lines.findIndex((l, i) => i > start && /^\S/.test(l));
  return lines
    .slice(start + 1, end)
    .map((l) => /^ {2}([a-z0-9-]+)\/\s/.exec(l)?.[1])
    .filter((name): name is string => name !== undefined);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|mts|cts)$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** The repository files a source file imports (relative specifiers only), as root-relative paths. */
function importsOf(file: string, text = readFileSync(join(ROOT, file), 'utf8')): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts'));
}

const top = (path: string): string => path.split('/')[0]!;
const room = (path: string): string => path.split('/')[1]!;

/** Every import that breaks a rule, as "file -> target: why". */
function violations(order: readonly string[], files: readonly string[], read = importsOf): string[] {
  const rank = new Map(order.map((name, i) => [name, i]));
  const found: string[] = [];
  for (const file of files) {
    for (const target of read(file)) {
      const why = ruleBroken(file, target, rank);
      if (why) found.push(`${file} -> ${target}: ${why}`);
    }
  }
  return found;
}

function ruleBroken(file: string, target: string, rank: ReadonlyMap<string, number>): string | undefined {
  const from = top(file);
  const to = top(target);
  if (from === 'shared') {
    if (to !== 'shared') return 'shared/ imports only shared/';
    const a = rank.get(room(file));
    const b = rank.get(room(target));
    if (a === undefined || b === undefined) return undefined; // unlisted: the listing test names it
    if (b > a) return `shared/${room(file)}/ is below shared/${room(target)}/ in docs/architecture.md`;
  }
  if (from === 'cli' && to === 'functions')
    return 'cli/ does not import functions/ (composition/ holds the wiring)';
  if (from === 'cli' && to === 'agent') {
    const entryPoint = /^cli\/commands\/agent[^/]*\.ts$/.test(file) && target === 'agent/main.ts';
    if (!entryPoint) return 'cli/ runs the agent only through agent/main.ts, from the agent commands';
  }
  if (from === 'composition' && to !== 'shared' && to !== 'composition')
    return 'composition/ imports only shared/';
  return undefined;
}

const architecture = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
const order = sharedOrder(architecture);

describe('the import order of docs/architecture.md', () => {
  it('lists every folder of shared/ once, and no other', () => {
    const folders = readdirSync(join(ROOT, 'shared'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(new Set(order).size).toBe(order.length);
    expect([...order].sort()).toEqual(folders.sort());
  });

  it('holds for every import in shared/, cli/ and composition/', () => {
    const files = ['shared', 'cli', 'composition'].flatMap(sourceFiles);
    expect(files.length).toBeGreaterThan(100);
    expect(violations(order, files)).toEqual([]);
  });

  it('catches an upward import, one out of shared/, and the CLI reaching into functions/ or agent/', () => {
    const planted: Record<string, string[]> = {
      'shared/model/spec.ts': ['shared/renewal/policy.ts', 'shared/model/errors.ts'],
      'shared/acme/client.ts': ['cli/output.ts'],
      'cli/context.ts': ['functions/issuer-runtime.ts'],
      'cli/local/issue.ts': ['agent/config.ts'],
      'cli/commands/agent.ts': ['agent/main.ts', 'agent/sync.ts'],
      'composition/aws.ts': ['functions/runtime.ts'],
    };
    const found = violations(order, Object.keys(planted), (file) => planted[file]!);
    expect(found).toEqual([
      'shared/model/spec.ts -> shared/renewal/policy.ts: shared/model/ is below shared/renewal/ in docs/architecture.md',
      'shared/acme/client.ts -> cli/output.ts: shared/ imports only shared/',
      'cli/context.ts -> functions/issuer-runtime.ts: cli/ does not import functions/ (composition/ holds the wiring)',
      'cli/local/issue.ts -> agent/config.ts: cli/ runs the agent only through agent/main.ts, from the agent commands',
      'cli/commands/agent.ts -> agent/sync.ts: cli/ runs the agent only through agent/main.ts, from the agent commands',
      'composition/aws.ts -> functions/runtime.ts: composition/ imports only shared/',
    ]);
  });

  it('sees static, re-exported and dynamic imports', () => {
    const text = [
      "import type { A } from '../model/a.js';",
      "export { B } from './b.js';",
      "const c = await import('../store/c.js');",
      "import { d } from 'zod';",
    ].join('\n');
    expect(importsOf('shared/acme/x.ts', text)).toEqual([
      'shared/model/a.ts',
      'shared/acme/b.ts',
      'shared/store/c.ts',
    ]);
  });
});
