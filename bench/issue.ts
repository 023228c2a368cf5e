/**
 * One local IP certificate (127.0.0.1, HTTP-01, profile shortlived) from Pebble, issued by
 * the certkeeper executable (the single executable `npm run build` makes, as servers run
 * it), by lego and by certbot: N runs each, alternating so all see the same machine load,
 * each in a fresh directory that starts with the tool's ACME account from a first run
 * (accounts reused, as on a server that renews). Also each tool's startup alone (`--help`).
 * Prints median and min wall time, median CPU (user + system) and peak RSS per tool, and
 * the ratios to lego. Not a test: figures to compare across changes.
 *
 * Two CAs, one after the other: the peers' Pebble, configured (as the tests need) to send
 * `Retry-After: 1` with every order that is still processing after finalize, which
 * certkeeper waits out as RFC 8555 §7.4 says ("send a POST-as-GET request after the time
 * given in the Retry-After header field") and lego and certbot do not (they poll again at
 * once, or on their own fixed interval); and a Pebble of the bench's own that sends no
 * Retry-After, so the tools compare on their own work.
 *
 *   npm run bench:issue   (peers started for it; BENCH_RUNS=N, default 7)
 *   BENCH_BASELINE=/path/to/an/older/certkeeper-linux-x64 npm run bench:issue
 *     adds that executable as one more tool, alternating with the others: before and after
 *     a change, in one run.
 *
 * lego is installed on first use into $CERTKEEPER_PEERS_HOME/bin (default ~/.cache/certkeeper/bin),
 * next to Pebble, at a pinned version that builds with Go >= 1.24; certbot into a venv beside
 * it (`bench-venv`, from PyPI). Pebble may reuse an account's valid authorization for a
 * later order (its PEBBLE_AUTHZREUSE), for every tool alike: such runs skip validation.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { hostArch, seaPath } from '../scripts/sea-build.js';
import { peers } from '../scripts/test-kit/peers.js';
import { startPebbleWith } from '../scripts/test-kit/pebble-switches.js';
import { measure, printTable, requireGnuTime, type Sample } from './lib/measure.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const CERTBOT_VERSION = '5.8.0';
const LEGO_MODULE = 'github.com/go-acme/lego/v4';
const LEGO_VERSION = 'v4.33.0';

const HOME = process.env.CERTKEEPER_PEERS_HOME ?? join(homedir(), '.cache', 'certkeeper');
const legoPath = (): string => join(HOME, 'bin', 'lego');
const certbotPath = (): string => join(HOME, 'bench-venv', 'bin', 'certbot');

/** certbot from PyPI into its own venv (not the peers' venv: its pins are moto's). */
function installCertbot(bin: string): void {
  const venv = dirname(dirname(bin));
  console.log(`installing certbot ${CERTBOT_VERSION} into ${venv} (pip)`);
  for (const [cmd, args] of [
    ['python3', ['-m', 'venv', venv]],
    [join(venv, 'bin', 'pip'), ['install', '-q', `certbot==${CERTBOT_VERSION}`]],
  ] as const) {
    const r = spawnSync(cmd, args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
  }
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

type Tool = 'certkeeper' | 'certkeeper-baseline' | 'lego' | 'certbot';
type Command = [string, string[], NodeJS.ProcessEnv];
interface ToolSpec {
  run: (dir: string) => Command;
  account: string;
  help: string[];
}
/** The CA a scenario issues from. */
interface Ca {
  directoryUrl: string;
  httpPort: number;
  caCertPath: string;
}

const EMAIL = 'bench@example.com';

function certkeeperTool(executable: string, ca: Ca): ToolSpec {
  return {
    run: (dir) => [
      executable,
      [
        'issue',
        '--directory-url',
        ca.directoryUrl,
        '--email',
        EMAIL,
        '--ip',
        '127.0.0.1',
        '--http01-listen',
        `127.0.0.1:${ca.httpPort}`,
        '--http01-listen-retry',
        '30',
        '--ca-file',
        ca.caCertPath,
        '--out',
        dir,
        '--json',
      ],
      { ...process.env },
    ],
    account: 'accounts',
    help: ['--help'],
  };
}

function tools(
  ca: Ca,
  executables: { certkeeper: string; baseline?: string; lego: string; certbot: string },
) {
  const env = { ...process.env };
  const all: Partial<Record<Tool, ToolSpec>> = {
    certkeeper: certkeeperTool(executables.certkeeper, ca),
    ...(executables.baseline ? { 'certkeeper-baseline': certkeeperTool(executables.baseline, ca) } : {}),
    // LEGO_CA_CERTIFICATES: lego's way to trust a private CA (Pebble's HTTPS) for this run only.
    lego: {
      run: (dir) => [
        executables.lego,
        [
          '--server',
          ca.directoryUrl,
          '--accept-tos',
          '--email',
          EMAIL,
          '--http',
          '--http.port',
          `127.0.0.1:${ca.httpPort}`,
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
        { ...env, LEGO_CA_CERTIFICATES: ca.caCertPath },
      ],
      account: 'accounts',
      help: ['--help'],
    },
    // REQUESTS_CA_BUNDLE: how certbot (python-requests) trusts Pebble's HTTPS.
    certbot: {
      run: (dir) => [
        executables.certbot,
        [
          'certonly',
          '--standalone',
          '--non-interactive',
          '--agree-tos',
          '-m',
          EMAIL,
          '--server',
          ca.directoryUrl,
          '--ip-address',
          '127.0.0.1',
          '--preferred-profile',
          'shortlived',
          '--http-01-address',
          '127.0.0.1',
          '--http-01-port',
          String(ca.httpPort),
          '--config-dir',
          join(dir, 'config'),
          '--work-dir',
          join(dir, 'work'),
          '--logs-dir',
          join(dir, 'logs'),
        ],
        { ...env, REQUESTS_CA_BUNDLE: ca.caCertPath },
      ],
      account: join('config', 'accounts'),
      help: ['--help'],
    },
  };
  return all as Record<Tool, ToolSpec>;
}

interface Results {
  issue: Record<string, Sample[]>;
  failed: Record<string, number>;
}

/** RUNS issuances per tool from `ca`, alternating, each in a fresh directory holding the tool's account. */
async function issueRuns(specs: Record<string, ToolSpec>, work: string): Promise<Results> {
  const names = Object.keys(specs);
  mkdirSync(work, { recursive: true });
  const issue = Object.fromEntries(names.map((t) => [t, [] as Sample[]]));
  const failed = Object.fromEntries(names.map((t) => [t, 0]));
  // A first run each creates the account every later run starts from.
  for (const tool of names) {
    const [command, args, toolEnv] = specs[tool]!.run(join(work, `${tool}-account`));
    await measure(command, args, { env: toolEnv, cwd: work });
  }
  for (let i = 0; i < RUNS; i++) {
    // Rotate which goes first, so none always follows another's warm caches.
    const order = names.map((_, k) => names[(i + k) % names.length]!);
    const line: string[] = [];
    for (const tool of order) {
      const spec = specs[tool]!;
      const dir = join(work, `${tool}-${i}`);
      const seed = () =>
        cpSync(join(work, `${tool}-account`, spec.account), join(dir, spec.account), { recursive: true });
      seed();
      const [command, args, toolEnv] = spec.run(dir);
      // Pebble refuses a share of nonces on purpose (badNonce, RFC 8555 §6.5): a tool that
      // does not retry it fails the run. Such a run is counted and measured again.
      let sample: Sample | undefined;
      for (let attempt = 0; !sample; attempt++) {
        try {
          sample = await measure(command, args, { env: toolEnv, cwd: work });
        } catch (err) {
          if (attempt >= 2) throw err;
          failed[tool]!++;
          rmSync(dir, { recursive: true, force: true });
          seed();
        }
      }
      issue[tool]!.push(sample);
      line.push(`${tool} ${(sample.wallMs / 1000).toFixed(2)} s`);
    }
    console.log(`  run ${i + 1}: ${line.join(', ')}`);
  }
  return { issue, failed };
}

function report(title: string, results: Results): void {
  console.log(`\n${title} (ratios to lego)`);
  printTable(results.issue, 'lego');
  console.log(
    `failed runs measured again: ${Object.entries(results.failed)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ')}`,
  );
}

async function main(): Promise<void> {
  requireGnuTime();
  const certkeeper = seaPath(hostArch());
  if (!existsSync(certkeeper)) throw new Error(`${certkeeper} is missing: run npm run build first`);
  const baseline = process.env.BENCH_BASELINE;
  if (baseline && !existsSync(baseline)) throw new Error(`BENCH_BASELINE ${baseline} does not exist`);
  const lego = legoPath();
  if (!existsSync(lego)) installLego(lego);
  const certbot = certbotPath();
  if (!existsSync(certbot)) installCertbot(certbot);
  const executables = { certkeeper, ...(baseline ? { baseline } : {}), lego, certbot };
  const { pebble } = peers();
  const work = mkdtempSync(join(tmpdir(), 'certkeeper-bench-issue-'));
  // retryAfter 0: Pebble sends no Retry-After header at all.
  const quiet = await startPebbleWith({}, { retryAfter: { authz: 0, order: 0 } });
  try {
    const peersCa = tools(pebble, executables);
    console.log(
      `${RUNS} issuances of 127.0.0.1 per tool, alternating (fresh directory, account reused)\n` +
        "\nthe peers' Pebble (Retry-After: 1 on processing orders)",
    );
    const withRetryAfter = await issueRuns(peersCa, join(work, 'retry-after'));
    console.log('\na Pebble that sends no Retry-After');
    const quietCa = tools({ ...quiet, caCertPath: pebble.caCertPath }, executables);
    const without = await issueRuns(quietCa, join(work, 'no-retry-after'));
    const startup = Object.fromEntries(Object.keys(peersCa).map((t) => [t, [] as Sample[]]));
    for (let i = 0; i < RUNS; i++) {
      for (const [tool, spec] of Object.entries(peersCa)) {
        startup[tool]!.push(await measure(spec.run(work)[0], spec.help, { cwd: work }));
      }
    }
    report("issue one IP certificate, the peers' Pebble (Retry-After: 1)", withRetryAfter);
    report('issue one IP certificate, a Pebble without Retry-After', without);
    console.log('\nstartup: --help (ratios to lego)');
    printTable(startup, 'lego');
  } finally {
    await quiet.close();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(
    `\ncertkeeper ${certkeeper}${baseline ? `; baseline ${baseline}` : ''}; lego ${LEGO_VERSION}; certbot ${CERTBOT_VERSION}; ${RUNS} runs each`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
