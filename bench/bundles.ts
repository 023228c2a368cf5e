/**
 * What each Lambda bundle costs: its size, its size compressed (about what the deployment
 * zip holds) and how long Node takes to load it cold, the part of a Lambda cold start the
 * bundle decides. Not a test: it prints figures to compare across changes.
 *
 *   npm run bench:bundles   (tsx bench/bundles.ts [--runs N])
 *
 * Each load is a fresh `node` process importing the bundle from a directory with no
 * node_modules, as in Lambda; the time is the `await import()` alone (module parse,
 * evaluation and top-level code), not Node's own start-up, so it is the bundle's share.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { BUNDLE_FILE, buildLambdas, kb } from '../infra/bundle.js';

const LOAD = `
const t = process.hrtime.bigint();
await import('./${BUNDLE_FILE}');
process.stdout.write(String(Number(process.hrtime.bigint() - t) / 1e6));
`;

/** One cold load of `dir`/index.mjs in a new process; milliseconds. */
function loadOnce(dir: string): number {
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', LOAD], {
    cwd: dir,
    // Nothing of this process (tsx's loader in NODE_OPTIONS would be timed too).
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', AWS_REGION: 'us-east-1' },
    encoding: 'utf8',
  });
  const ms = Number(child.stdout);
  if (child.status !== 0 || !Number.isFinite(ms)) {
    throw new Error(`loading ${dir}/${BUNDLE_FILE} failed: ${child.stderr || child.stdout}`);
  }
  return ms;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
  const runs = Math.max(1, Number(values.runs));
  const work = await mkdtemp(path.join(tmpdir(), 'certkeeper-bench-bundles-'));
  try {
    const started = performance.now();
    const built = await buildLambdas({ outDir: path.join(work, 'build') });
    const buildSeconds = (performance.now() - started) / 1000;

    const rows: string[][] = [];
    for (const lambda of built) {
      const code = await readFile(lambda.file);
      const gzip = gzipSync(code, { level: 9 }).length;
      // A directory of its own, outside the repository: nothing to resolve packages from.
      const dir = await mkdtemp(path.join(work, `${lambda.name}-`));
      await copyFile(lambda.file, path.join(dir, BUNDLE_FILE));
      const times = Array.from({ length: runs }, () => loadOnce(dir));
      rows.push([
        lambda.name,
        String(lambda.bytes),
        kb(lambda.bytes),
        kb(gzip),
        `${median(times).toFixed(1)} ms`,
        `${Math.min(...times).toFixed(1)} ms`,
        lambda.contributors
          .slice(0, 3)
          .map((c) => `${c.source} ${kb(c.bytes)}`)
          .join(', '),
      ]);
    }

    const header = ['bundle', 'bytes', 'size', 'gzip -9', `load median`, 'load min', 'largest parts'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) =>
      cells.map((c, i) =>
        i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!),
      );
    console.log(`Node ${process.version}, ${runs} cold loads each, build ${buildSeconds.toFixed(2)} s`);
    console.log(line(header).join('  ').trimEnd());
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const row of rows) console.log(line(row).join('  ').trimEnd());
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
