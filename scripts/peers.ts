/**
 * Local test peers for tests, the demo and CI: Pebble (ACME), moto (S3, Route53, SNS, SQS,
 * ...), DynamoDB Local, and a test DNS server that serves moto's Route53 records. The IAM
 * Roles Anywhere stand-in (scripts/peers/roles-anywhere/) is started by the tests that need
 * it, in process; AWS's aws_signing_helper is installed with the peers to prove it.
 *
 *   tsx scripts/peers.ts install          install into ${CERTKEEPER_PEERS_HOME:-~/.cache/certkeeper}
 *   tsx scripts/peers.ts start            start (installing if needed) in <repo>/.peers; prints env.json
 *   tsx scripts/peers.ts stop             stop what start started (pid files); safe to repeat
 *   tsx scripts/peers.ts env [--shell]    print env.json (or `export K=V` lines)
 *   tsx scripts/peers.ts run -- CMD...    start a private set of peers, run CMD with the
 *                                         variables below, stop them, exit with CMD's code
 *
 * Variables exported by `run` (also under "env" in env.json):
 *   CERTKEEPER_PEERS_ENV   path of env.json
 *   PEBBLE_DIRECTORY_URL   https://127.0.0.1:<p>/dir (ACME directory)
 *   PEBBLE_MANAGEMENT_URL  https://127.0.0.1:<p> (roots, intermediates, set-renewal-info, ...)
 *   PEBBLE_CA_CERT         PEM of the throwaway CA that signed Pebble's HTTPS certificate;
 *                          ACME clients trust it explicitly (never NODE_TLS_REJECT_UNAUTHORIZED)
 *   PEBBLE_HTTP_PORT       port Pebble connects to on 127.0.0.1 for http-01
 *   PEBBLE_TLS_PORT        port Pebble connects to on 127.0.0.1 for tls-alpn-01
 *   MOTO_ENDPOINT          http://127.0.0.1:<p> (moto server; use path-style S3)
 *   DYNAMODB_ENDPOINT      http://127.0.0.1:<p> (DynamoDB Local, in memory, shared DB)
 *   TEST_DNS_SERVER        127.0.0.1:<p> (UDP and TCP; Pebble resolves through it)
 *   AWS_SIGNING_HELPER     path of AWS's aws_signing_helper (IAM Roles Anywhere's reference
 *                          client; tests prove the Roles Anywhere stand-in against it)
 * and, only when not already set: AWS_ACCESS_KEY_ID=test, AWS_SECRET_ACCESS_KEY=test,
 * AWS_REGION=us-east-1, AWS_EC2_METADATA_DISABLED=true,
 * AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true.
 *
 * Pebble runs with -strict, PEBBLE_VA_NOSLEEP=1, profiles `classic` (90 days, CN) and
 * `shortlived` (160 hours), and Pebble's default 5% badNonce rejection. Logs, pid files and
 * generated config live in the state directory (<repo>/.peers, or CERTKEEPER_PEERS_DIR);
 * each `run` uses its own <state>/runs/<pid>/, so runs never share or stop each other's
 * peers, nor those of `start`.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { constants } from 'node:os';
import { delimiter, join } from 'node:path';
import { defaultStateDir, repoRoot } from './peers/config.js';
import { install } from './peers/install.js';
import {
  claimRunDir,
  cleanupStaleRuns,
  envFilePath,
  exportedEnv,
  readEnvFile,
  startPeers,
  stopPeers,
} from './peers/instance.js';
import { log } from './peers/util.js';

const USAGE = 'usage: tsx scripts/peers.ts install | start | stop | env [--shell] | run -- <command...>';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const stateDir = defaultStateDir();
  const runsDir = join(stateDir, 'runs');
  switch (command) {
    case 'install':
      await install();
      return 0;
    case 'start': {
      await cleanupStaleRuns(runsDir);
      const file = await startPeers(stateDir);
      process.stdout.write(`${JSON.stringify(file, null, 2)}\n`);
      return 0;
    }
    case 'stop': {
      const stopped = await stopPeers(stateDir);
      await cleanupStaleRuns(runsDir);
      log(stopped.length > 0 ? `stopped ${stopped.join(', ')}` : 'nothing to stop');
      return 0;
    }
    case 'env': {
      const file = readEnvFile(stateDir);
      if (!file) {
        log(`no peers running: ${envFilePath(stateDir)} is missing (start them with: npm run peers start)`);
        return 1;
      }
      if (rest.includes('--shell')) {
        for (const [key, value] of Object.entries(exportedEnv(file))) {
          process.stdout.write(`export ${key}=${shellQuote(value)}\n`);
        }
      } else {
        process.stdout.write(`${JSON.stringify(file, null, 2)}\n`);
      }
      return 0;
    }
    case 'run':
      return run(rest[0] === '--' ? rest.slice(1) : rest, runsDir);
    default:
      log(USAGE);
      return 2;
  }
}

/** start, run the command with the peers' variables, stop (also on SIGINT/SIGTERM). */
async function run(commandLine: string[], runsDir: string): Promise<number> {
  const [command, ...args] = commandLine;
  if (!command) {
    log(USAGE);
    return 2;
  }
  const dir = join(runsDir, String(process.pid));
  let child: ReturnType<typeof spawn> | undefined;
  let stopping: Promise<unknown> | undefined;
  const stop = (): Promise<unknown> => (stopping ??= stopPeers(dir).catch((err: Error) => log(err.message)));

  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping`);
    if (child && child.exitCode === null && child.signalCode === null) {
      // The command hears it and exits; the exit handler below stops the peers. Bounded:
      setTimeout(() => child?.kill('SIGKILL'), 10_000).unref();
      child.kill(signal);
    } else {
      void stop().then(() => process.exit(128 + (constants.signals[signal] ?? 1)));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  await cleanupStaleRuns(runsDir);
  claimRunDir(dir);
  let code: number;
  try {
    const file = await startPeers(dir);
    const env = {
      ...process.env,
      ...exportedEnv(file),
      PATH: [join(repoRoot, 'node_modules', '.bin'), process.env.PATH ?? ''].join(delimiter),
    };
    code = await new Promise<number>((resolveCode) => {
      child = spawn(command, args, { stdio: 'inherit', env });
      child.on('error', (err) => {
        log(`cannot run ${command}: ${err.message}`);
        resolveCode(127);
      });
      child.on('exit', (exitCode, signal) =>
        resolveCode(exitCode ?? 128 + (signal ? (constants.signals[signal] ?? 1) : 1)),
      );
    });
  } catch (err) {
    log((err as Error).message);
    code = 1;
  } finally {
    await stop();
  }
  // Keep the logs of a failed run for a look; a later run or stop removes them.
  if (code === 0) rmSync(dir, { recursive: true, force: true });
  else log(`peer logs kept in ${dir}`);
  return code;
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    log(err.message);
    process.exit(1);
  },
);
