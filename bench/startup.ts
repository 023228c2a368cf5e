/**
 * How long `certkeeper --help` (and `--version`, `issue --help`, `agent --help`) takes from
 * each way of running it: the sources through tsx (cli/bin.js, what a checkout runs), the
 * built file under Node (dist/cli/certkeeper.cjs, the npm package) and the single executable
 * (dist/cli/certkeeper-linux-<arch>, the Debian package), next to bare `node -e 0`.
 * Alternating, N runs each; prints medians. Not a test: figures to compare across changes.
 *
 *   npm run bench:startup   (tsx bench/startup.ts [--runs N]; run `npm run build` first)
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CLI_BUNDLE } from '../scripts/cli-bundle.js';
import { hostArch, seaPath } from '../scripts/sea-build.js';
import { measure, printTable, requireGnuTime, type Sample } from './lib/measure.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
  const runs = Number(values.runs);
  requireGnuTime();
  const sea = seaPath(hostArch());
  for (const file of [CLI_BUNDLE, sea]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
  }
  // Nothing of this process's environment (tsx's loader in NODE_OPTIONS would be timed too).
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' };
  const ways: Record<string, (args: string[]) => [string, string[]]> = {
    'node -e 0 (bare)': () => [process.execPath, ['-e', '0']],
    'tsx (cli/bin.js)': (args) => [process.execPath, [path.join(ROOT, 'cli', 'bin.js'), ...args]],
    'node certkeeper.cjs': (args) => [process.execPath, [CLI_BUNDLE, ...args]],
    'executable (SEA)': (args) => [sea, args],
  };
  for (const args of [['--help'], ['--version'], ['issue', '--help'], ['agent', '--help']]) {
    const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(ways).map((w) => [w, []]));
    for (let i = 0; i < runs; i++) {
      for (const [way, cmd] of Object.entries(ways)) {
        const [command, argv] = cmd(args);
        samples[way]!.push(await measure(command, argv, { env, cwd: ROOT }));
      }
    }
    console.log(`\ncertkeeper ${args.join(' ')}  (${runs} runs each, alternating)`);
    printTable(samples, 'tsx (cli/bin.js)');
  }
  console.log(`\nnode ${process.version} for the first three; the executable embeds its own`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
