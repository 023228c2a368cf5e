/**
 * The server agent's acceptance, end to end: the real scheduler and issuer issue from
 * Pebble into a stand-in stack, the agent installs into a directory, and a real nginx (its own
 * prefix and ports, see scripts/test-kit/nginx.ts) loads and serves what the agent installed.
 * What a TLS client sees is the assertion, next to the files and the agent's report.
 *
 * The agent is the repository's, run in this process, unless CERTKEEPER_AGENT_BIN names a
 * certkeeper executable: then every agent here is that program, run as a server runs it
 * (`certkeeper agent --config FILE`, `--once --json`, SIGTERM to stop), with the same
 * assertions. The Debian package's test runs this file against the installed
 * /usr/bin/certkeeper (vitest.config.ts, project `installed`).
 */
import { spawn } from 'node:child_process';
import { forcedRenewal } from '../../shared/queue/queue.js';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddressInUseError,
  type AgentDeps,
  createAgent,
  startAgentHttp01,
  type SyncReport,
} from '../../agent/agent.js';
import { type AgentConfig, type AgentConfigInput, loadAgentConfig } from '../../agent/config.js';
import { handler as issuer } from '../../functions/issuer.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { generateKey, parseCertificate, sha256Hex } from '../../shared/pki/index.js';
import { bundleFileKey, http01Key, manifestKey } from '../../shared/store/layout.js';
import type { Manifest } from '../../shared/store/store.js';
import { S3CertificateStore, S3ObjectStore } from '../../shared/store/s3-store.js';
import { runTick, sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { freePorts } from '../../scripts/peers/ports.js';
import { startNginx, type Nginx, type NginxOptions } from '../../scripts/test-kit/nginx.js';
import { peers, uniqueName } from '../../scripts/test-kit/peers.js';
import { scratch, testRoots } from '../support/scratch.js';
import { useStandInStack } from '../../scripts/test-kit/stack.js';
import type { TestCa } from '../support/test-ca.js';
import { recordingLog } from '../support/agent-host.js';

/** The certkeeper executable to test instead of the agent in this process, if any. */
const AGENT_BIN = process.env.CERTKEEPER_AGENT_BIN;

/** Unique per run: peers started once (`npm run peers start`) keep the zones of earlier runs. */
const ZONE = `${uniqueName('agent')}.test`;
const HOUR = 3_600_000;

let stack: StandInStack;
let inventory: DynamoInventory;
/** The bucket as the agent's http-01 responder reads it. */
let objects: S3ObjectStore;
/** A CA made at run time, for certificates Pebble would not issue (placeholders, expired ones). */
let testCa: TestCa;
/** Pebble's root and the test CA's: the agent verifies chains against them, as against a private CA. */
let trustedCaFile: string;
/** Whatever a test started or created, undone in afterAll even when the test failed half way. */
const { defer, tempDir, cleanUp } = scratch('agent-e2e');

beforeAll(async () => {
  stack = await useStandInStack('agent-e2e', [ZONE]);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  objects = new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket, kmsKeyId: stack.kmsKeyId });
  ({ testCa, trustedCaFile } = await testRoots(tempDir('ca')));
});

afterAll(async () => {
  await cleanUp();
  stack.clients.s3.destroy();
});

// --- the issuing side ---------------------------------------------------------------------

/** Declares DNS-01 certificates (one name each in the test zone) and issues them in one tick. */
async function issue(...names: string[]): Promise<void> {
  for (const name of names) await declareCertificate(inventory, { name, identifiers: [`${name}.${ZONE}`] });
  const tick = await runTick(stack.clients.sqs, stack.queueUrl);
  expect(tick.scheduled.enqueued.sort()).toEqual([...names].sort());
  await expectIssued(tick.issuer.batchItemFailures, names);
}

/** The issuer records a failed renewal as handled: ask the inventory, and say why if not. */
async function expectIssued(failures: unknown[], names: readonly string[]): Promise<void> {
  expect(failures).toEqual([]);
  for (const name of names) {
    const state = (await inventory.get(name))?.state;
    expect(state?.lastError, `${name} was not issued`).toBeUndefined();
    expect(state?.status).toBe('valid');
  }
}

/** An operator's forced renewal (as `certkeeper renew --force` queues it), through the issuer handler. */
async function forceRenew(...names: string[]): Promise<void> {
  const before = await Promise.all(names.map(manifestOf));
  const response = await issuer(
    sqsEvent(
      names.map((name) => ({ MessageId: name, Body: JSON.stringify(forcedRenewal(name, new Date())) })),
    ),
  );
  await expectIssued(response.batchItemFailures, names);
  const after = await Promise.all(names.map(manifestOf));
  after.forEach((m, i) => expect(m.serial).not.toBe(before[i]!.serial));
}

async function getText(key: string): Promise<string> {
  const out = await stack.clients.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  return out.Body!.transformToString();
}

const putText = (key: string, body: string) =>
  stack.clients.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: body }));

const manifestOf = async (name: string): Promise<Manifest> =>
  JSON.parse(await getText(manifestKey(name))) as Manifest;

// --- the server side ----------------------------------------------------------------------

interface Host {
  dir: string;
  fullchain: string;
  key: string;
  cert: string;
  chain: string;
  stateFile: string;
}

function newHost(): Host {
  const dir = tempDir('host');
  return {
    dir,
    fullchain: join(dir, 'fullchain.pem'),
    key: join(dir, 'privkey.pem'),
    cert: join(dir, 'cert.pem'),
    chain: join(dir, 'chain.pem'),
    stateFile: join(dir, 'state.json'),
  };
}

/**
 * What a fresh server has before the agent's first run: a placeholder pair (the "snakeoil"
 * certificate of a new host) at the paths nginx is configured with, since nginx does not
 * start without one.
 */
async function provisionPlaceholder(host: Host, identifiers: string[]): Promise<string> {
  const { serial, bundle } = await testCa.issue({ identifiers });
  writeFileSync(host.fullchain, bundle.fullchain);
  writeFileSync(host.key, bundle.privkey, { mode: 0o600 });
  return serial;
}

async function nginxFor(
  host: Host,
  options: Omit<NginxOptions, 'certPath' | 'keyPath'> = {},
): Promise<Nginx> {
  const nginx = await startNginx({ certPath: host.fullchain, keyPath: host.key, ...options });
  defer(() => nginx.stop());
  return nginx;
}

/** What the tests do with an agent, the same whether it runs here or as a process. */
interface AgentUnderTest {
  syncOnce(): Promise<SyncReport>;
  run(options: { signal: AbortSignal }): Promise<void>;
}

/** Where an agent's S3 requests go when not to the stack's (moto) endpoint. */
interface AgentTestSettings {
  s3Endpoint?: string;
}

/**
 * An agent as a server runs it: a config file on disk, read by the agent's own loader.
 * Each certificate installs fullchain and key, and cert and chain too with `allFiles`.
 */
function agentFor(
  host: Host,
  name: string,
  settings: Partial<AgentConfigInput> & { allFiles?: boolean; identifiers?: string[] } = {},
  test: AgentTestSettings = {},
) {
  const { allFiles, identifiers, ...rest } = settings;
  const file = join(host.dir, `agent-${Math.random().toString(36).slice(2)}.json`);
  const input: AgentConfigInput = {
    bucket: stack.bucket,
    region: 'us-east-1',
    stateFile: host.stateFile,
    trustedCaFile,
    certificates: {
      [name]: {
        fullchain: host.fullchain,
        key: host.key,
        ...(allFiles ? { cert: host.cert, chain: host.chain } : {}),
        ...(identifiers ? { identifiers } : {}),
      },
    },
    ...rest,
  };
  writeFileSync(file, JSON.stringify(input, null, 2));
  const config = loadAgentConfig(file, {});
  const logs: string[] = [];
  if (AGENT_BIN) return { config, file, logs, agent: agentProcess(AGENT_BIN, file, logs, test) };
  const deps: AgentDeps = test.s3Endpoint ? { s3: unreachableS3(test.s3Endpoint) } : {};
  return {
    config,
    file,
    logs,
    agent: createAgent(config, { log: recordingLog(logs), ...deps }) as AgentUnderTest,
  };
}

/** An S3 client for an endpoint nothing answers on: one attempt, refused at once. */
function unreachableS3(endpoint: string): S3Client {
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  defer(() => client.destroy());
  return client;
}

/** The environment of an agent process: the stack's (set by useStandInStack), plus the test's. */
function agentEnv(test: AgentTestSettings): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...(test.s3Endpoint ? { AWS_ENDPOINT_URL_S3: test.s3Endpoint, AWS_MAX_ATTEMPTS: '1' } : {}),
  };
}

interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the executable to its end; its log lines (stderr) are appended to `logs` as they come. */
function runAgentProcess(
  bin: string,
  args: string[],
  logs: string[],
  test: AgentTestSettings,
  signal?: AbortSignal,
): Promise<Exited> {
  const child = spawn(bin, args, { env: agentEnv(test), stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = () => child.kill('SIGTERM');
  signal?.addEventListener('abort', stop, { once: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    // One entry per complete line, as the in-process log records them.
    const from = stderr.lastIndexOf('\n') + 1;
    stderr += d.toString();
    const to = stderr.lastIndexOf('\n');
    if (to >= from) logs.push(...stderr.slice(from, to).split('\n').filter(Boolean));
  });
  return new Promise((done, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      signal?.removeEventListener('abort', stop);
      done({ code, stdout, stderr });
    });
  });
}

/** The agent as `bin agent --config FILE`: `--once --json` for one sync, SIGTERM to stop a run. */
function agentProcess(bin: string, file: string, logs: string[], test: AgentTestSettings): AgentUnderTest {
  return {
    async syncOnce() {
      const exited = await runAgentProcess(bin, ['agent', '--config', file, '--once', '--json'], logs, test);
      // 0: everything installed or unchanged; 1: something was refused, rolled back, or failed.
      expect([0, 1], exited.stderr).toContain(exited.code);
      return JSON.parse(exited.stdout) as SyncReport;
    },
    async run({ signal }) {
      const exited = await runAgentProcess(bin, ['agent', '--config', file], logs, test, signal);
      expect(exited.code, exited.stderr).toBe(0);
    },
  };
}

/**
 * The agent's HTTP-01 responder, started: in this process, or as `bin agent --http01-listen`
 * (its periodic check an hour away), ready once it logs that it listens. A busy port is an
 * AddressInUseError in this process, and exit 2 with the same advice on stderr from the
 * executable; either way `refused` carries the advice.
 */
async function startResponder(
  config: AgentConfig,
  file: string,
): Promise<{ close(): Promise<unknown> } | { refused: string }> {
  if (!AGENT_BIN) {
    try {
      return await startAgentHttp01(config, objects);
    } catch (err) {
      if (err instanceof AddressInUseError) return { refused: err.describe() };
      throw err;
    }
  }
  const logs: string[] = [];
  const stop = new AbortController();
  const exited = runAgentProcess(AGENT_BIN, ['agent', '--config', file], logs, {}, stop.signal);
  const ready = await Promise.race([
    exited.then((e) => ({ refused: e.stderr, code: e.code })),
    expect
      .poll(() => logs.join('\n'), { timeout: 20_000 })
      .toMatch(/HTTP-01 responder listening/)
      .then(() => undefined),
  ]);
  if (ready) {
    expect(ready.code, ready.refused).toBe(2);
    return { refused: ready.refused };
  }
  return {
    close: async () => {
      stop.abort();
      expect((await exited).code).toBe(0);
    },
  };
}

/** Reload and served-serial check for an agent in front of this nginx. */
const servingThrough = (nginx: Nginx): Partial<AgentConfigInput> => ({
  reload: { commands: [nginx.reloadCommand], timeoutSeconds: 15 },
  verify: { host: '127.0.0.1', port: nginx.httpsPort, timeoutSeconds: 10 },
});

function only(report: SyncReport, name: string) {
  expect(report.certificates.map((c) => c.name)).toEqual([name]);
  return report.certificates[0]!;
}

/** The bytes at each installed path, to prove that a refused or rolled-back sync changed nothing. */
function snapshot(host: Host): Record<string, Buffer | undefined> {
  const read = (path: string) => {
    try {
      return readFileSync(path);
    } catch {
      return undefined;
    }
  };
  return Object.fromEntries(
    [host.fullchain, host.key, host.cert, host.chain].map((path) => [path, read(path)]),
  );
}

const serialOfFile = (path: string): string =>
  new X509Certificate(readFileSync(path)).serialNumber.toUpperCase();

/**
 * Starts the responder once the port is free: Pebble's http-01 port is one for the whole
 * run, and other test files take turns on it (a busy port refuses the responder).
 */
async function whenPortFree(config: AgentConfig, file: string, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const responder = await startResponder(config, file);
    if ('close' in responder) return responder;
    if (Date.now() > deadline) throw new Error(responder.refused);
    await new Promise((done) => setTimeout(done, 100));
  }
}

// --- the tests ----------------------------------------------------------------------------

describe('the agent with nginx in front', () => {
  it('installs on its periodic check and nginx serves it; installs the renewal the same way (direct mode)', async () => {
    const host = newHost();
    const placeholder = await provisionPlaceholder(host, [`web.${ZONE}`]);
    const nginx = await nginxFor(host);
    expect(await nginx.servedSerial()).toBe(placeholder);

    // The agent starts before the certificate exists (its first check reports that); in
    // direct mode (no registry identity) it reads the bucket on every check.
    const { agent, logs } = agentFor(host, 'web', { ...servingThrough(nginx), pollIntervalSeconds: 2 });
    const stop = new AbortController();
    const running = agent.run({ signal: stop.signal });
    defer(() => {
      stop.abort();
      return running;
    });
    // A process agent starts and reads its config first: longer than the default second.
    await expect.poll(() => logs.join('\n'), { timeout: 30_000 }).toMatch(/has not been issued \(yet\)/);

    await issue('web');
    const first = await manifestOf('web');
    await nginx.waitForSerial(first.serial, 20_000);
    expect(readFileSync(host.fullchain, 'utf8')).toBe(await getText(first.files.fullchain.key));

    await forceRenew('web');
    const renewed = await manifestOf('web');
    await nginx.waitForSerial(renewed.serial, 20_000);
    expect(readFileSync(host.key, 'utf8')).toBe(await getText(renewed.files.privkey.key));

    stop.abort();
    await running;
  });

  it('gets an IP certificate whose http-01 challenge Pebble validated against the agent, and nginx serves it', async () => {
    const host = newHost();
    const { config, file } = agentFor(host, 'ip', {
      http01Listen: `127.0.0.1:${peers().pebble.httpPort}`,
      pollIntervalSeconds: 3600,
    });
    await declareCertificate(inventory, { name: 'ip', identifiers: ['127.0.0.1'] });
    const responder = await whenPortFree(config, file);
    try {
      const tick = await runTick(stack.clients.sqs, stack.queueUrl);
      expect(tick.scheduled.enqueued).toEqual(['ip']);
      await expectIssued(tick.issuer.batchItemFailures, ['ip']);
    } finally {
      await responder.close();
    }
    const manifest = await manifestOf('ip');
    expect(manifest.profile).toBe('shortlived');

    await provisionPlaceholder(host, ['127.0.0.1']);
    const nginx = await nginxFor(host);
    const { agent } = agentFor(host, 'ip', servingThrough(nginx));
    expect(only(await agent.syncOnce(), 'ip')).toMatchObject({
      action: 'installed',
      serial: manifest.serial,
    });
    await nginx.waitForSerial(manifest.serial);
    expect(parseCertificate(readFileSync(host.fullchain, 'utf8')).ipAddresses).toEqual(['127.0.0.1']);
  });

  it('with its http-01 port taken, says how to proxy from nginx or Caddy; the nginx snippet works as written', async () => {
    const host = newHost();
    await provisionPlaceholder(host, ['127.0.0.1']);
    // nginx already has the server's port 80 (here: a free port), as on most web servers.
    const busy = await nginxFor(host, { httpPort: 0 });
    const { config, file } = agentFor(host, 'ip', { http01Listen: `127.0.0.1:${busy.httpPort}` });
    const refusal = await startResponder(config, file);
    if ('close' in refusal) {
      await refusal.close();
      throw new Error('the responder started on a port nginx holds');
    }
    const advice = refusal.refused;
    expect(advice).toContain(`127.0.0.1:${busy.httpPort} is already in use`);
    expect(advice).toMatch(/handle \/\.well-known\/acme-challenge\/\* \{ reverse_proxy 127\.0\.0\.1:\d+ \}/);
    const snippet =
      /location \/\.well-known\/acme-challenge\/ \{ proxy_pass http:\/\/127\.0\.0\.1:(\d+); \}/.exec(advice);
    expect(snippet).not.toBeNull();

    // Follow the advice: the snippet verbatim in an nginx server block, the agent on the
    // port it names, except that the port is a free one here, not the suggested fixed one.
    const { agentPort } = await freePorts({ agentPort: 'tcp' } as const);
    const proxy = await nginxFor(host, {
      httpDirectives: snippet![0].replace(`:${snippet![1]};`, `:${agentPort};`),
    });
    const moved = agentFor(host, 'ip', { http01Listen: `127.0.0.1:${agentPort}`, pollIntervalSeconds: 3600 });
    const responder = await startResponder(moved.config, moved.file);
    if (!('close' in responder)) throw new Error(responder.refused);
    try {
      const token = `e2e-${Date.now().toString(36)}-proxied-token`;
      await objects.put(http01Key(token), `${token}.thumbprint`);
      const res = await fetch(`http://127.0.0.1:${proxy.httpPort}/.well-known/acme-challenge/${token}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`${token}.thumbprint`);
    } finally {
      await responder.close();
    }
  });

  it('with S3 unreachable and nothing installed, serves a self-signed fallback until the real certificate replaces it', async () => {
    await issue('fallback');
    const host = newHost();
    const identifiers = [`fallback.${ZONE}`];
    // An S3 endpoint nothing listens on: every request is refused at once.
    const { deadPort } = await freePorts({ deadPort: 'tcp' } as const);
    const offline = agentFor(
      host,
      'fallback',
      { fallbackSelfSigned: true, identifiers },
      { s3Endpoint: `http://127.0.0.1:${deadPort}` },
    );
    const report = only(await offline.agent.syncOnce(), 'fallback');
    expect(report.action).toBe('fallback');
    expect(report.error).toContain(`the S3 endpoint 127.0.0.1:${deadPort} is unreachable`);
    expect(offline.logs.join('\n')).toMatch(/SELF-SIGNED FALLBACK/);
    const fallback = new X509Certificate(readFileSync(host.fullchain));
    expect(fallback.issuer).toBe(fallback.subject);
    expect(fallback.subjectAltName).toBe(`DNS:fallback.${ZONE}`);
    expect(fallback.checkPrivateKey(createPrivateKey(readFileSync(host.key)))).toBe(true);

    // nginx starts on the fallback, as it would at boot.
    const nginx = await nginxFor(host);
    expect(await nginx.servedSerial()).toBe(fallback.serialNumber.toUpperCase());

    // S3 is back (the agent's default client, on moto): the real certificate replaces it.
    const online = agentFor(host, 'fallback', {
      fallbackSelfSigned: true,
      identifiers,
      ...servingThrough(nginx),
    });
    const manifest = await manifestOf('fallback');
    expect(only(await online.agent.syncOnce(), 'fallback')).toMatchObject({
      action: 'installed',
      serial: manifest.serial,
    });
    await nginx.waitForSerial(manifest.serial);
  });
});

describe('the agent refuses what it must not install and changes nothing', () => {
  const names = ['bad-manifest', 'bad-hash', 'bad-key', 'expired', 'reload-fails'] as const;
  type Name = (typeof names)[number];
  const hosts = {} as Record<Name, Host>;
  const installed = {} as Record<Name, string>;

  // One tick issues all five, each agent installs its first serial, then one issuer batch
  // renews all five: every test starts with a good certificate installed and a newer one in S3.
  beforeAll(async () => {
    await issue(...names);
    for (const name of names) {
      hosts[name] = newHost();
      const { agent } = agentFor(hosts[name], name, { allFiles: true });
      expect(only(await agent.syncOnce(), name).action).toBe('installed');
      installed[name] = serialOfFile(hosts[name].cert);
    }
    await forceRenew(...names);
  });

  /** One sync that must not install: the files are the same bytes after it, and it says why. */
  async function expectNothingChanged(
    name: Name,
    settings: Partial<AgentConfigInput> = {},
  ): Promise<{ action: string; error?: string }> {
    const host = hosts[name];
    const before = snapshot(host);
    const { agent } = agentFor(host, name, { allFiles: true, ...settings });
    const report = only(await agent.syncOnce(), name);
    expect(snapshot(host)).toEqual(before);
    expect(serialOfFile(host.cert)).toBe(installed[name]);
    return report;
  }

  it('a corrupted manifest', async () => {
    await putText(manifestKey('bad-manifest'), '{"version": 1, "serial": <garbage>');
    expect(await expectNothingChanged('bad-manifest')).toMatchObject({
      action: 'refused',
      error: expect.stringMatching(/current\.json is corrupt: it is not JSON/),
    });
  });

  it('a file whose sha256 differs from the manifest', async () => {
    const manifest = await manifestOf('bad-hash');
    const other = await testCa.issue({ identifiers: [`bad-hash.${ZONE}`] });
    await putText(manifest.files.cert.key, other.bundle.cert);
    expect(await expectNothingChanged('bad-hash')).toMatchObject({
      action: 'refused',
      error: expect.stringContaining(`${manifest.files.cert.key} does not match the sha256 in the manifest`),
    });
  });

  it('a private key that does not belong to the certificate (its hash updated, so only the key is wrong)', async () => {
    const manifest = await manifestOf('bad-key');
    const key = generateKey('ecdsa-p256');
    await putText(manifest.files.privkey.key, key);
    manifest.files.privkey.sha256 = sha256Hex(key);
    await putText(manifestKey('bad-key'), JSON.stringify(manifest, null, 2));
    expect(await expectNothingChanged('bad-key')).toMatchObject({
      action: 'refused',
      error: expect.stringMatching(/private key does not belong to the certificate/),
    });
  });

  it('an expired certificate under a new serial, stored with correct hashes', async () => {
    const identifiers = [`expired.${ZONE}`];
    // From a CA the agent trusts, so that expiry is the only thing wrong with it.
    const old = await testCa.issue({
      identifiers,
      notBefore: new Date(Date.now() - 48 * HOUR),
      notAfter: new Date(Date.now() - 24 * HOUR),
    });
    // Through the store's own writer: files under the new serial, read back, manifest last.
    await new S3CertificateStore(stack.clients.s3, {
      bucket: stack.bucket,
      kmsKeyId: stack.kmsKeyId,
    }).putBundle('expired', old.serial, old.bundle, old.meta);
    expect((await manifestOf('expired')).files.cert.key).toBe(bundleFileKey('expired', old.serial, 'cert'));
    const report = await expectNothingChanged('expired');
    expect(report.action).toBe('refused');
    expect(report.error).toMatch(/expired/);
    expect(report.error).toContain(old.meta.notAfter);
  });

  it('a failing reload command: the previous files are put back and nginx keeps serving them', async () => {
    const nginx = await nginxFor(hosts['reload-fails']);
    expect(await nginx.servedSerial()).toBe(installed['reload-fails']);
    const report = await expectNothingChanged('reload-fails', { reload: { commands: ['false'] } });
    expect(report).toMatchObject({
      action: 'rolled-back',
      error: expect.stringMatching(/reload command "false" exited with status 1/),
    });
    expect(await nginx.servedSerial()).toBe(installed['reload-fails']);
  });
});
