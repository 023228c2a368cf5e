/**
 * Makes the executable's V8 code cache (see cli/sea/bundle.ts). Run by the Node binary the
 * executable is made from (V8 only takes a cache its own version and flags made), bundled to
 * CommonJS by scripts/sea-build.ts:
 *
 *   node sea-train.cjs WRAPPED_BUNDLE CACHE_OUT RUNS_JSON
 *
 * Compiles the bundle as the executable will, runs it once per argument list in RUNS_JSON
 * (commands that need no network: --help texts, and local commands stopped by a usage error
 * after loading their modules), each to its exit, then writes the bytecode V8 holds for
 * every function that ran.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { compileBundle, runBundle } from '../cli/sea/bundle.js';

async function main(): Promise<void> {
  const [bundle, cacheOut, runsJson] = process.argv.slice(2);
  if (!bundle || !cacheOut || !runsJson) throw new Error('usage: sea-train BUNDLE CACHE_OUT RUNS_JSON');
  const runs = JSON.parse(runsJson) as string[][];
  // The same text the executable compiles (cli/sea/bundle.ts wrapBundle), read the same way.
  const script = compileBundle(readFileSync(bundle, 'latin1'), bundle);
  const exit = process.exit.bind(process);
  const writes = {
    out: process.stdout.write.bind(process.stdout),
    err: process.stderr.write.bind(process.stderr),
  };
  const codes: number[] = [];
  for (const args of runs) {
    const code = await new Promise<number>((resolve) => {
      // The bundle ends each run with process.exit(code): here that ends the run only.
      process.exit = ((c?: number) => resolve(Number(c ?? 0))) as typeof process.exit;
      process.stdout.write = (() => true) as typeof process.stdout.write;
      process.stderr.write = (() => true) as typeof process.stderr.write;
      process.argv = [process.argv[0]!, bundle, ...args];
      runBundle(script, require, bundle, dirname(bundle));
    });
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    codes.push(code);
  }
  const data = script.createCachedData();
  writeFileSync(cacheOut, data);
  console.log(JSON.stringify({ bytes: data.length, codes }));
  exit(0);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
