/**
 * One local IP certificate (127.0.0.1, HTTP-01, profile shortlived) from Pebble, issued by
 * the certkeeper executable (the single executable `npm run build` makes, as servers run
 * it), by lego and by certbot: N runs each, alternating so all see the same machine load,
 * each in a fresh directory that starts with the tool's ACME account from a first run
 * (accounts reused, as on a server that renews). Also each tool's startup alone (`--help`).
 * Prints median and min wall time, median CPU (user + system) and peak RSS per tool, and
 * the ratios to lego. Not a test: figures to compare across changes.
 *
 *   npm run bench:issue   (peers started for it; BENCH_RUNS=N, default 7)
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
import { hostArch, seaPath } from '../scripts/build-cli.js';
import { peers } from '../test/support/peers.js';
import { measure, printTable, requireGnuTime, type Sample } from './measure.js';

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

type Tool = 'certkeeper' | 'lego' | 'certbot';

async function main(): Promise<void> {
  requireGnuTime();
  const certkeeper = seaPath(hostArch());
  if (!existsSync(certkeeper)) throw new Error(`${certkeeper} is missing: run npm run build first`);
  const lego = legoPath();
  if (!existsSync(lego)) installLego(lego);
  const certbot = certbotPath();
  if (!existsSync(certbot)) installCertbot(certbot);
  const { pebble } = peers();
  const listen = `127.0.0.1:${pebble.httpPort}`;
  const work = mkdtempSync(join(tmpdir(), 'certkeeper-bench-issue-'));
  const email = 'bench@example.com';
  const env = { ...process.env };

  // Each tool's command for a directory, and the part of that directory that is its account.
  const tools: Record<
    Tool,
    { run: (dir: string) => [string, string[], NodeJS.ProcessEnv]; account: string; help: string[] }
  > = {
    certkeeper: {
      run: (dir) => [
        certkeeper,
        [
          'issue',
          '--directory-url',
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
        ],
        env,
      ],
      account: 'accounts',
      help: ['--help'],
    },
    // LEGO_CA_CERTIFICATES: lego's way to trust a private CA (Pebble's HTTPS) for this run only.
    lego: {
      run: (dir) => [
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
        { ...env, LEGO_CA_CERTIFICATES: pebble.caCertPath },
      ],
      account: 'accounts',
      help: ['--help'],
    },
    // REQUESTS_CA_BUNDLE: how certbot (python-requests) trusts Pebble's HTTPS.
    certbot: {
      run: (dir) => [
        certbot,
        [
          'certonly',
          '--standalone',
          '--non-interactive',
          '--agree-tos',
          '-m',
          email,
          '--server',
          pebble.directoryUrl,
          '--ip-address',
          '127.0.0.1',
          '--preferred-profile',
          'shortlived',
          '--http-01-address',
          '127.0.0.1',
          '--http-01-port',
          String(pebble.httpPort),
          '--config-dir',
          join(dir, 'config'),
          '--work-dir',
          join(dir, 'work'),
          '--logs-dir',
          join(dir, 'logs'),
        ],
        { ...env, REQUESTS_CA_BUNDLE: pebble.caCertPath },
      ],
      account: join('config', 'accounts'),
      help: ['--help'],
    },
  };
  const names = Object.keys(tools) as Tool[];
  const issue = Object.fromEntries(names.map((t) => [t, [] as Sample[]])) as Record<Tool, Sample[]>;
  const startup = Object.fromEntries(names.map((t) => [t, [] as Sample[]])) as Record<Tool, Sample[]>;
  const failed = Object.fromEntries(names.map((t) => [t, 0])) as Record<Tool, number>;
  try {
    // A first run each creates the account every later run starts from.
    for (const tool of names) {
      const [command, args, toolEnv] = tools[tool].run(join(work, `${tool}-account`));
      await measure(command, args, { env: toolEnv, cwd: work });
    }
    console.log(
      `${RUNS} issuances of 127.0.0.1 per tool against Pebble, alternating (fresh directory, account reused)`,
    );
    for (let i = 0; i < RUNS; i++) {
      // Rotate which goes first, so none always follows another's warm caches.
      const order = names.map((_, k) => names[(i + k) % names.length]!);
      const line: string[] = [];
      for (const tool of order) {
        const dir = join(work, `${tool}-${i}`);
        cpSync(join(work, `${tool}-account`, tools[tool].account), join(dir, tools[tool].account), {
          recursive: true,
        });
        const [command, args, toolEnv] = tools[tool].run(dir);
        // Pebble refuses a share of nonces on purpose (badNonce, RFC 8555 §6.5): a tool that
        // does not retry it fails the run. Such a run is counted and measured again.
        let sample: Sample | undefined;
        for (let attempt = 0; !sample; attempt++) {
          try {
            sample = await measure(command, args, { env: toolEnv, cwd: work });
          } catch (err) {
            if (attempt >= 2) throw err;
            failed[tool]++;
            rmSync(dir, { recursive: true, force: true });
            cpSync(join(work, `${tool}-account`, tools[tool].account), join(dir, tools[tool].account), {
              recursive: true,
            });
          }
        }
        issue[tool].push(sample);
        line.push(`${tool} ${(sample.wallMs / 1000).toFixed(2)} s`);
      }
      console.log(`  run ${i + 1}: ${line.join(', ')}`);
    }
    for (let i = 0; i < RUNS; i++) {
      for (const tool of names)
        startup[tool].push(await measure(tools[tool].run(work)[0], tools[tool].help, { cwd: work }));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log('\nissue one IP certificate (ratios to lego)');
  printTable(issue, 'lego');
  console.log('\nstartup: --help (ratios to lego)');
  printTable(startup, 'lego');
  console.log(`\nfailed runs measured again: ${names.map((t) => `${t} ${failed[t]}`).join(', ')}`);
  console.log(
    `\ncertkeeper ${certkeeper}; lego ${LEGO_VERSION}; certbot ${CERTBOT_VERSION}; ${RUNS} runs each`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
