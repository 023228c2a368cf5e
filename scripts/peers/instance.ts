/**
 * One set of running peers in a state directory: pid files, logs, generated config and
 * env.json. startPeers/stopPeers only ever touch the processes named in that directory's
 * pid files (checked against the process start time, so a reused pid is left alone).
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { cachePaths, PEER_NAMES, repoRoot, type PeerName, type PeersEnvFile } from './config.js';
import { install, installStatus, launcherCurrent } from './install.js';
import { freePorts } from './ports.js';
import { probeDns, probeDynamodb, probeHttp, waitUntil } from './probes.js';
import { isOurs, pidFile, readPidFile, signalGroup, type Spawned, spawnPeer } from './processes.js';
import { generateTls } from './tls.js';
import { isAlive, log, procStat, readFileSafe, sleep, tail, withFileLock } from './util.js';

const ENV_FILE = 'env.json';
const HEALTH_DEADLINE_MS: Record<PeerName, number> = {
  moto: 60_000,
  dynamodb: 90_000,
  dns: 60_000,
  pebble: 60_000,
};
const STOP_GRACE_MS = 5_000;
const START_ATTEMPTS = 3;

export function envFilePath(dir: string): string {
  return join(dir, ENV_FILE);
}

export function readEnvFile(dir: string): PeersEnvFile | undefined {
  const text = readFileSafe(envFilePath(dir));
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as PeersEnvFile;
  } catch {
    return undefined;
  }
}

/** Stops the processes listed in dir's pid files; removes pid files and env.json. Idempotent. */
export async function stopPeers(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const records = readdirSync(dir)
    .filter((file) => file.endsWith('.pid'))
    .map((file) => ({
      file: join(dir, file),
      name: file.slice(0, -4),
      record: readPidFile(join(dir, file)),
    }));
  const running = records.filter((entry) => entry.record !== undefined && isOurs(entry.record));
  for (const entry of running) signalGroup(entry.record!.pid, 'SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (running.some((entry) => isAlive(entry.record!.pid)) && Date.now() < deadline) await sleep(50);
  for (const entry of running) {
    if (isAlive(entry.record!.pid)) {
      log(`${entry.name} (pid ${entry.record!.pid}) ignored SIGTERM for ${STOP_GRACE_MS / 1000}s: SIGKILL`);
      signalGroup(entry.record!.pid, 'SIGKILL');
    }
  }
  for (const entry of records) rmSync(entry.file, { force: true });
  rmSync(envFilePath(dir), { force: true });
  return running.map((entry) => entry.name);
}

class StartFailure extends Error {
  constructor(
    message: string,
    readonly portConflict: boolean,
  ) {
    super(message);
  }
}

/**
 * Starts every peer in `dir` unless env.json there describes peers that are still up and
 * healthy. Installs first when something is missing. Returns env.json's content.
 */
export async function startPeers(dir: string): Promise<PeersEnvFile> {
  mkdirSync(dir, { recursive: true });
  return withFileLock(join(dir, '.start.lock'), `the peers in ${dir}`, 10 * 60_000, async () => {
    const existing = readEnvFile(dir);
    if (existing && (await stillHealthy(dir, existing))) {
      log(`peers already running (${envFilePath(dir)})`);
      return existing;
    }
    await stopPeers(dir); // leftovers of a crashed or partial start
    const status = await installStatus();
    if (!Object.values(status).every(Boolean)) await install();
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOnce(dir);
      } catch (err) {
        await stopPeers(dir);
        if (err instanceof StartFailure && err.portConflict && attempt < START_ATTEMPTS) {
          log(`a port was taken meanwhile; retrying with new ports (${err.message.split('\n')[0]})`);
          continue;
        }
        throw err;
      }
    }
  });
}

async function stillHealthy(dir: string, env: PeersEnvFile): Promise<boolean> {
  for (const name of PEER_NAMES) {
    const record = readPidFile(pidFile(dir, name));
    if (!record || !isOurs(record)) return false;
  }
  try {
    const ca = readFileSync(env.pebble.caCert, 'utf8');
    await Promise.all([
      probeHttp(`${env.moto.endpoint}/moto-api/`, 200),
      probeDynamodb(env.dynamodb.endpoint),
      probeDns(`${env.dns.host}:${env.dns.port}`),
      probeHttp(env.pebble.directoryUrl, 200, ca),
    ]);
    return true;
  } catch {
    return false;
  }
}

async function startOnce(dir: string): Promise<PeersEnvFile> {
  const started = Date.now();
  const paths = cachePaths();
  for (const file of readdirSync(dir)) if (file.endsWith('.log')) rmSync(join(dir, file), { force: true });
  const tls = await generateTls(dir);
  const ports = await freePorts({
    pebble: 'tcp',
    pebbleManagement: 'tcp',
    pebbleHttp: 'tcp',
    pebbleTls: 'tcp',
    moto: 'tcp',
    dynamodb: 'tcp',
    dns: 'udp',
  } as const);
  const host = '127.0.0.1';
  const motoEndpoint = `http://${host}:${ports.moto}`;
  const dynamodbEndpoint = `http://${host}:${ports.dynamodb}`;
  const dnsServer = `${host}:${ports.dns}`;
  const directoryUrl = `https://${host}:${ports.pebble}/dir`;
  const managementUrl = `https://${host}:${ports.pebbleManagement}`;

  const pebbleConfig = join(dir, 'pebble-config.json');
  writeFileSync(
    pebbleConfig,
    `${JSON.stringify(
      {
        pebble: {
          listenAddress: `${host}:${ports.pebble}`,
          managementListenAddress: `${host}:${ports.pebbleManagement}`,
          certificate: tls.serverCert,
          privateKey: tls.serverKey,
          httpPort: ports.pebbleHttp,
          tlsPort: ports.pebbleTls,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
          retryAfter: { authz: 1, order: 1 },
          profiles: {
            classic: {
              description: "Like Let's Encrypt classic: 90 days, first name promoted to the CN",
              validityPeriod: 7_776_000,
              promoteCommonName: true,
            },
            shortlived: {
              description: "Like Let's Encrypt shortlived: 160 hours, no CN",
              validityPeriod: 576_000,
            },
          },
        },
      },
      null,
      2,
    )}\n`,
  );

  const baseEnv = { ...process.env };
  const dynamodbClasspath = launcherCurrent(paths)
    ? { classpath: `${paths.dynamodbLauncherDir}:${join(paths.dynamodbDir, '*')}`, main: 'LocalhostDynamoDB' }
    : {
        classpath: join(paths.dynamodbDir, '*'),
        main: 'software.amazon.dynamodb.services.local.main.ServerRunner',
      };
  if (dynamodbClasspath.main !== 'LocalhostDynamoDB') {
    log('warning: DynamoDB Local runs without the 127.0.0.1 launcher and listens on every interface');
  }

  const spawned: Spawned[] = [
    spawnPeer(
      dir,
      'moto',
      // moto_server's own arguments, through a launcher that makes it faster (see the file).
      paths.venvPython,
      [join(repoRoot, 'scripts', 'peers', 'moto-server.py'), '-H', host, '-p', String(ports.moto)],
      { ...baseEnv, PYTHONUNBUFFERED: '1' },
      dir,
    ),
    spawnPeer(
      dir,
      'dynamodb',
      'java',
      [
        '-Xms64m',
        '-Xmx1g',
        '-XX:+UseSerialGC',
        '-XX:TieredStopAtLevel=1',
        `-Djava.library.path=${paths.dynamodbDir}`,
        '-cp',
        dynamodbClasspath.classpath,
        dynamodbClasspath.main,
        '-inMemory',
        '-sharedDb',
        '-disableTelemetry',
        '-port',
        String(ports.dynamodb),
      ],
      baseEnv,
      dir,
    ),
    spawnPeer(
      dir,
      'dns',
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        join(repoRoot, 'scripts', 'peers', 'dns-server.ts'),
        '--port',
        String(ports.dns),
        '--moto',
        motoEndpoint,
      ],
      {
        ...baseEnv,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      repoRoot,
    ),
    spawnPeer(
      dir,
      'pebble',
      paths.pebble,
      ['-config', pebbleConfig, '-dnsserver', dnsServer, '-strict'],
      // PEBBLE_WFE_NONCEREJECT stays at Pebble's default (5%): clients must retry badNonce.
      { ...baseEnv, PEBBLE_VA_NOSLEEP: '1' },
      dir,
    ),
  ];
  const byName = (name: PeerName): Spawned => spawned.find((entry) => entry.name === name)!;
  const ca = readFileSync(tls.caCert, 'utf8');

  const healthyAfter: string[] = [];
  const wait = async (name: PeerName, probe: () => Promise<void>): Promise<void> => {
    const peer = byName(name);
    try {
      await waitUntil(name, probe, HEALTH_DEADLINE_MS[name], () => peer.exit);
      healthyAfter.push(`${name} ${((Date.now() - started) / 1000).toFixed(1)}s`);
    } catch (err) {
      const logText = tail(peer.logPath, 40);
      const portConflict =
        peer.exit !== undefined && /address already in use|BindException|bind: /i.test(logText);
      throw new StartFailure(
        `peer ${name} failed to start: ${(err as Error).message}\nlog: ${peer.logPath}\n${tail(peer.logPath)}`,
        portConflict,
      );
    }
  };
  const motoUp = wait('moto', () => probeHttp(`${motoEndpoint}/moto-api/`, 200));
  await Promise.all([
    motoUp,
    wait('dynamodb', () => probeDynamodb(dynamodbEndpoint)),
    // The DNS server reads moto for every answer: probe it once moto is up.
    motoUp.then(() => wait('dns', () => probeDns(dnsServer))),
    wait('pebble', async () => {
      await probeHttp(directoryUrl, 200, ca);
      await probeHttp(`${managementUrl}/roots/0`, 200, ca);
    }),
  ]);

  const pids = Object.fromEntries(spawned.map((entry) => [entry.name, entry.child.pid ?? 0])) as Record<
    PeerName,
    number
  >;
  const logs = Object.fromEntries(spawned.map((entry) => [entry.name, entry.logPath])) as Record<
    PeerName,
    string
  >;
  const file: PeersEnvFile = {
    version: 1,
    dir,
    startedAt: new Date().toISOString(),
    pebble: {
      directoryUrl,
      managementUrl,
      caCert: tls.caCert,
      httpPort: ports.pebbleHttp,
      tlsPort: ports.pebbleTls,
    },
    moto: { endpoint: motoEndpoint },
    dynamodb: { endpoint: dynamodbEndpoint },
    dns: { host, port: ports.dns },
    ...(existsSync(paths.signingHelper) ? { signingHelper: { path: paths.signingHelper } } : {}),
    pids,
    logs,
    env: {
      CERTKEEPER_PEERS_ENV: envFilePath(dir),
      PEBBLE_DIRECTORY_URL: directoryUrl,
      PEBBLE_MANAGEMENT_URL: managementUrl,
      PEBBLE_CA_CERT: tls.caCert,
      PEBBLE_HTTP_PORT: String(ports.pebbleHttp),
      PEBBLE_TLS_PORT: String(ports.pebbleTls),
      MOTO_ENDPOINT: motoEndpoint,
      DYNAMODB_ENDPOINT: dynamodbEndpoint,
      TEST_DNS_SERVER: dnsServer,
      ...(existsSync(paths.signingHelper) ? { AWS_SIGNING_HELPER: paths.signingHelper } : {}),
    },
  };
  const tmp = `${envFilePath(dir)}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`);
  renameSync(tmp, envFilePath(dir));
  log(
    `peers up in ${((Date.now() - started) / 1000).toFixed(1)}s [${healthyAfter.join(', ')}] (${envFilePath(dir)})`,
  );
  return file;
}

/** Variables `run` exports: env.json's, plus dummy AWS credentials and region when unset. */
export function exportedEnv(
  file: PeersEnvFile,
  base: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const defaults: Record<string, string> = {
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const result: Record<string, string> = { ...file.env };
  for (const [key, value] of Object.entries(defaults)) {
    if (base[key] === undefined || base[key] === '') result[key] = value;
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// per-run instances

const OWNER_FILE = 'owner';

/** Marks dir as belonging to this process (for cleanupStaleRuns). */
export function claimRunDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, OWNER_FILE), `${process.pid}\n${procStat(process.pid)?.startTime ?? ''}\n`);
}

/** Stops and removes the run instances under runsDir whose owning process is gone. */
export async function cleanupStaleRuns(runsDir: string): Promise<void> {
  if (!existsSync(runsDir)) return;
  for (const entry of readdirSync(runsDir)) {
    const dir = join(runsDir, entry);
    const owner = readPidFile(join(dir, OWNER_FILE));
    if (owner && isOurs(owner)) continue;
    // A directory without an owner may be one being claimed this very moment.
    if (!owner && Date.now() - statSync(dir).mtimeMs < 60_000) continue;
    const stopped = await stopPeers(dir);
    if (stopped.length > 0) log(`stopped peers left by a dead run (${dir}): ${stopped.join(', ')}`);
    rmSync(dir, { recursive: true, force: true });
  }
}
