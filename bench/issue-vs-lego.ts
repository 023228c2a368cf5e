/**
 * One local IP certificate (127.0.0.1, HTTP-01, profile shortlived) from Pebble, issued by
 * `certkeeper issue` and by lego, the CLI most like it: N runs each, alternating so both see
 * the same machine load, each in a fresh directory (so each also registers its ACME account,
 * as a first run on a new machine does). Also the startup-only cost of each (`--help`), since
 * certkeeper runs TypeScript through tsx and lego is a compiled binary. Not a test: it prints
 * figures to compare across changes.
 *
 *   npm run bench:lego   (npx tsx scripts/peers.ts run -- npx tsx bench/issue-vs-lego.ts)
 *
 * lego is installed on first use into $CERTKEEPER_PEERS_HOME/bin (default ~/.cache/certkeeper/bin),
 * next to Pebble, at a pinned version that builds with Go >= 1.24.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { peers } from '../test/support/peers.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const LEGO_MODULE = 'github.com/go-acme/lego/v4';
const LEGO_VERSION = 'v4.33.0';
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');

function legoPath(): string {
  const home = process.env.CERTKEEPER_PEERS_HOME ?? join(homedir(), '.cache', 'certkeeper');
  return join(home, 'bin', 'lego');
}

/**
 * `go install module@version` first. When the module proxy refuses the version list (which
 * `go install` reads to check deprecation), build from the module's own directory instead:
 * the same pinned version and go.sum, without the lookup.
 */
function installLego(bin: string): void {
  const gobin = dirname(bin);
  mkdirSync(gobin, { recursive: true });
  const env = { ...process.env, GOBIN: gobin, CGO_ENABLED: '0' };
  console.log(`installing lego ${LEGO_VERSION} into ${gobin} (go install; a few minutes the first time)`);
  const install = spawnSync('go', ['install', `${LEGO_MODULE}/cmd/lego@${LEGO_VERSION}`], {
    env,
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
  });
  if (install.status === 0 && existsSync(bin)) return;
  console.log(
    `go install failed (${install.stderr.trim().split('\n').pop()}); building from the module directory`,
  );
  const download = spawnSync('go', ['mod', 'download', '-json', `${LEGO_MODULE}@${LEGO_VERSION}`], {
    env,
    encoding: 'utf8',
  });
  const dir = download.status === 0 ? (JSON.parse(download.stdout) as { Dir?: string }).Dir : undefined;
  if (!dir) throw new Error(`go mod download ${LEGO_MODULE}@${LEGO_VERSION} failed: ${download.stderr}`);
  const build = spawnSync('go', ['build', '-trimpath', '-o', bin, './cmd/lego'], {
    cwd: dir,
    env,
    stdio: 'inherit',
  });
  if (build.status !== 0 || !existsSync(bin)) throw new Error('building lego failed (needs Go >= 1.24)');
}

/** Wall time of one process from spawn to exit; a non-zero exit aborts the bench with its output. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((done, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - start;
      if (code === 0) done(ms);
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${output}`));
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const lego = legoPath();
  if (!existsSync(lego)) installLego(lego);
  const { pebble } = peers();
  const listen = `127.0.0.1:${pebble.httpPort}`;
  const work = mkdtempSync(join(tmpdir(), 'certkeeper-bench-lego-'));
  const email = 'bench@example.com';

  const certkeeperIssue = (dir: string) =>
    timed(TSX, [
      'cli/main.ts',
      'issue',
      '--directory',
      pebble.directoryUrl,
      '--email',
      email,
      '--ip',
      '127.0.0.1',
      '--http01-listen',
      listen,
      '--http01-listen-retry',
      '30',
      '--ca-file',
      pebble.caCertPath,
      '--out',
      dir,
      '--json',
    ]);
  // LEGO_CA_CERTIFICATES: lego's way to trust a private CA (Pebble's HTTPS) for this run only.
  const legoEnv = { ...process.env, LEGO_CA_CERTIFICATES: pebble.caCertPath };
  const legoIssue = (dir: string) =>
    timed(
      lego,
      [
        '--server',
        pebble.directoryUrl,
        '--accept-tos',
        '--email',
        email,
        '--http',
        '--http.port',
        listen,
        '--domains',
        '127.0.0.1',
        '--path',
        dir,
        // Like certkeeper: no IP in the Common Name, which Let's Encrypt refuses (badCSR).
        '--disable-cn',
        'run',
        '--profile',
        'shortlived',
      ],
      legoEnv,
    );

  const times = { certkeeper: [] as number[], lego: [] as number[] };
  const startup = { certkeeper: [] as number[], lego: [] as number[] };
  try {
    console.log(`${RUNS} issuances of 127.0.0.1 each against Pebble, alternating (fresh directory per run)`);
    for (let i = 0; i < RUNS; i++) {
      // Alternate which goes first, so neither always follows the other's warm caches.
      const order = i % 2 === 0 ? (['certkeeper', 'lego'] as const) : (['lego', 'certkeeper'] as const);
      for (const tool of order) {
        const dir = join(work, `${tool}-${i}`);
        times[tool].push(await (tool === 'certkeeper' ? certkeeperIssue(dir) : legoIssue(dir)));
      }
      console.log(
        `  run ${i + 1}: certkeeper ${seconds(times.certkeeper[i]!)}, lego ${seconds(times.lego[i]!)}`,
      );
    }
    for (let i = 0; i < RUNS; i++) {
      startup.certkeeper.push(await timed(TSX, ['cli/main.ts', 'issue', '--help']));
      startup.lego.push(await timed(lego, ['--help'], legoEnv));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const row = (tool: 'certkeeper' | 'lego') =>
    `${tool.padEnd(11)} ${seconds(median(times[tool])).padStart(8)} ${seconds(Math.min(...times[tool])).padStart(8)} ${seconds(Math.max(...times[tool])).padStart(8)} ${seconds(median(startup[tool])).padStart(10)}`;
  console.log('');
  console.log(
    `tool        ${'median'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)} ${'startup'.padStart(10)}`,
  );
  console.log(row('certkeeper'));
  console.log(row('lego'));
  const ratio = median(times.certkeeper) / median(times.lego);
  const withoutStartup = (tool: 'certkeeper' | 'lego') => median(times[tool]) - median(startup[tool]);
  console.log('');
  console.log(
    `certkeeper/lego: ${ratio.toFixed(2)}x (median issue), ${(Math.min(...times.certkeeper) / Math.min(...times.lego)).toFixed(2)}x (min)`,
  );
  console.log(
    `without startup (median issue - median --help): certkeeper ${seconds(withoutStartup('certkeeper'))}, lego ${seconds(withoutStartup('lego'))}`,
  );
  console.log(`lego ${LEGO_VERSION} at ${lego}; node ${process.version}; ${RUNS} runs each`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
