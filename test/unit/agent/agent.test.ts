import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createSecureContext, createServer, type Server } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../shared/model/clock.js';
import { UnreachableError } from '../../../shared/model/errors.js';
import { parseCertificate, sha256Hex } from '../../../shared/pki/index.js';
import { bundleFileKey, manifestKey } from '../../../shared/store/layout.js';
import type { CertificateStore } from '../../../shared/store/store.js';
import { agentStatus } from '../../../agent/status.js';
import { createTestCa, type IssuedBundle, type TestCa } from '../../support/test-ca.js';
import { type AgentHost, agentHost } from '../../support/agent-host.js';

const HOUR = 3_600_000;
const IDS = ['web.example.test', '203.0.113.10'];

let ca: TestCa;
beforeAll(async () => {
  ca = await createTestCa();
});

const modeOf = (path: string): number => statSync(path).mode & 0o777;

/** A host with serial `first` installed; `second` is published but not yet checked. */
async function installed(
  input = {},
): Promise<{ host: AgentHost; first: IssuedBundle; second: IssuedBundle }> {
  const host = agentHost(ca.rootPem, input);
  const first = await ca.issue({ identifiers: IDS });
  await host.publish(first);
  expect((await host.agent.syncOnce()).certificates).toEqual([
    { name: 'web', action: 'installed', serial: first.serial },
  ]);
  const second = await ca.issue({ identifiers: IDS });
  return { host, first, second };
}

describe('a check', () => {
  it('installs every file with its mode, reloads once, records the state; the next check changes nothing', async () => {
    const { host, first } = await installed();
    const { paths } = host;
    expect(readFileSync(paths.fullchain, 'utf8')).toBe(first.bundle.fullchain);
    expect(readFileSync(paths.key, 'utf8')).toBe(first.bundle.privkey);
    expect(readFileSync(paths.cert, 'utf8')).toBe(first.bundle.cert);
    expect(readFileSync(paths.chain, 'utf8')).toBe(first.bundle.chain);
    expect(modeOf(paths.key)).toBe(0o600);
    expect(modeOf(paths.fullchain)).toBe(0o644);
    expect(host.reloads()).toEqual([first.serial]);
    const state = (await host.state()).certificates.web!;
    expect(state).toMatchObject({
      serial: first.serial,
      notAfter: first.meta.notAfter,
    });
    expect(state.installedAt).toBeDefined();
    expect(state).not.toHaveProperty('lastError');

    expect((await host.agent.syncOnce()).certificates[0]).toEqual({
      name: 'web',
      action: 'unchanged',
      serial: first.serial,
    });
    expect(host.reloads()).toEqual([first.serial]);
  });

  it('installs a new serial over the old one and keeps the old files as .previous', async () => {
    const { host, first, second } = await installed();
    await host.publish(second);
    expect((await host.agent.syncCertificate('web')).action).toBe('installed');
    expect(readFileSync(host.paths.fullchain, 'utf8')).toBe(second.bundle.fullchain);
    expect(readFileSync(`${host.paths.key}.previous`, 'utf8')).toBe(first.bundle.privkey);
    expect(modeOf(`${host.paths.key}.previous`)).toBe(0o600);
    expect(host.reloads()).toEqual([first.serial, second.serial]);
  });

  it('reinstalls when the files on disk are not the recorded serial (deleted or replaced by hand)', async () => {
    const { host, first } = await installed();
    writeFileSync(host.paths.key, (await ca.issue({ identifiers: IDS })).bundle.privkey);
    expect((await host.agent.syncOnce()).certificates[0]!.action).toBe('installed');
    expect(readFileSync(host.paths.key, 'utf8')).toBe(first.bundle.privkey);
  });

  it('applies the configured mode and owner (ids of the current user, which needs no privilege)', async () => {
    const uid = process.getuid!();
    const gid = process.getgid!();
    const host = agentHost(ca.rootPem, {});
    const agent = host.withConfig({
      certificates: {
        web: {
          fullchain: host.paths.fullchain,
          key: host.paths.key,
          mode: '0640',
          owner: uid,
          group: String(gid),
        },
      },
    });
    await host.publish(await ca.issue({ identifiers: IDS }));
    expect((await agent.syncOnce()).certificates[0]!.action).toBe('installed');
    expect(modeOf(host.paths.fullchain)).toBe(0o640);
    expect(modeOf(host.paths.key)).toBe(0o600);
    expect(statSync(host.paths.key)).toMatchObject({ uid, gid });
  });

  it('reports a user that does not exist, naming the field', async () => {
    const host = agentHost(ca.rootPem);
    const agent = host.withConfig({
      certificates: {
        web: { fullchain: host.paths.fullchain, key: host.paths.key, owner: 'no-such-user-ck' },
      },
    });
    await host.publish(await ca.issue({ identifiers: IDS }));
    const report = (await agent.syncOnce()).certificates[0]!;
    expect(report.action).toBe('error');
    expect(report.error).toMatch(/certificates\.web\.owner: user "no-such-user-ck" does not exist.*Fix:/);
    expect(host.snapshot()[host.paths.fullchain]).toBeUndefined();
  });

  it('says when the certificate has not been issued yet', async () => {
    const host = agentHost(ca.rootPem);
    const report = (await host.agent.syncOnce()).certificates[0]!;
    expect(report).toMatchObject({ action: 'error' });
    expect(report.error).toMatch(/current\.json does not exist.*not been issued/);
    expect((await host.state()).certificates.web!.lastError).toBe(report.error);
  });
});

describe('refusals: nothing on disk changes, nothing reloads, the state says why', () => {
  type Tamper = (host: AgentHost, next: IssuedBundle) => Promise<void> | void;
  const manifestPath = (host: AgentHost): string => join(host.storeRoot, manifestKey('web'));
  const filePath = (host: AgentHost, next: IssuedBundle, file: 'cert' | 'privkey'): string =>
    join(host.storeRoot, bundleFileKey('web', next.serial, file));
  const rewriteManifest = (host: AgentHost, change: (m: Record<string, unknown>) => void): void => {
    const manifest = JSON.parse(readFileSync(manifestPath(host), 'utf8')) as Record<string, unknown>;
    change(manifest);
    writeFileSync(manifestPath(host), JSON.stringify(manifest));
  };

  const cases: [string, RegExp, Tamper][] = [
    [
      "a file whose sha256 is not the manifest's",
      /cert\.pem does not match the sha256 in the manifest/,
      (host, next) =>
        writeFileSync(filePath(host, next, 'cert'), next.bundle.cert.replace('\n-----END', '\n\n-----END')),
    ],
    [
      'a private key of another certificate (hash updated)',
      /the private key does not belong to the certificate/,
      async (host, next) => {
        const other = (await ca.issue({ identifiers: IDS })).bundle.privkey;
        writeFileSync(filePath(host, next, 'privkey'), other);
        rewriteManifest(host, (m) => {
          (m.files as Record<string, { sha256: string }>).privkey!.sha256 = sha256Hex(other);
        });
      },
    ],
    [
      'an expired certificate',
      /expired at/,
      async (host) => {
        const old = await ca.issue({
          identifiers: IDS,
          notBefore: new Date(Date.now() - 48 * HOUR),
          notAfter: new Date(Date.now() - HOUR),
        });
        await host.publish(old);
      },
    ],
    [
      "names other than the manifest's",
      /names 203\.0\.113\.10, web\.example\.test, expected other\.example\.test/,
      (host) => rewriteManifest(host, (m) => (m.identifiers = ['other.example.test'])),
    ],
    [
      'a chain that leads to no trusted root',
      /does not lead to a trusted root/,
      async (host) => host.publish(await (await createTestCa()).issue({ identifiers: IDS })),
    ],
    [
      'a corrupt manifest',
      /manifest certificates\/web\/current\.json is corrupt: it is not JSON/,
      (host) => writeFileSync(manifestPath(host), '{"version": 1, "serial": <garbage>'),
    ],
  ];

  it.each(cases)('%s', async (_what, error, tamper) => {
    const { host, first, second } = await installed();
    await host.publish(second);
    await tamper(host, second);
    const before = host.snapshot();
    const report = (await host.agent.syncOnce()).certificates[0]!;
    expect(report.action).toBe('refused');
    expect(report.error).toMatch(error);
    expect(report.error).toContain('Fix:');
    expect(report.error).not.toMatch(/PRIVATE KEY/);
    expect(host.snapshot()).toEqual(before);
    expect(host.reloads()).toEqual([first.serial]);
    expect((await host.state()).certificates.web).toMatchObject({
      serial: first.serial,
      lastError: report.error,
    });
  });

  it('refuses identifiers that differ from the configured ones', async () => {
    const host = agentHost(ca.rootPem);
    const agent = host.withConfig({
      certificates: {
        web: { fullchain: host.paths.fullchain, key: host.paths.key, identifiers: ['web.example.test'] },
      },
    });
    await host.publish(await ca.issue({ identifiers: IDS }));
    const report = (await agent.syncOnce()).certificates[0]!;
    expect(report.action).toBe('refused');
    expect(report.error).toMatch(/expected web\.example\.test/);
    expect(host.snapshot()[host.paths.fullchain]).toBeUndefined();
  });
});

describe('rollback', () => {
  it('puts the previous files back when the reload fails, and reloads them', async () => {
    const { host, first, second } = await installed();
    await host.publish(second);
    const before = host.snapshot();
    const log = join(host.dir, 'failing-reloads.log');
    const agent = host.withConfig({
      reload: {
        commands: [`echo "$CERTKEEPER_SERIAL" >> '${log}'; echo 'nginx: [emerg] bad cert' >&2; exit 3`],
      },
    });
    const report = (await agent.syncOnce()).certificates[0]!;
    expect(report.action).toBe('rolled-back');
    expect(report.error).toMatch(
      /rolled back to the previous files: reload command .* exited with status 3: nginx: \[emerg\] bad cert/,
    );
    expect(host.snapshot()).toEqual(before);
    expect(readFileSync(log, 'utf8').split('\n').filter(Boolean)).toEqual([second.serial, 'previous']);
    expect((await host.state()).certificates.web).toMatchObject({
      serial: first.serial,
      lastError: report.error,
    });
  });

  it('treats a reload that overruns its timeout as failed', async () => {
    const { host, second } = await installed();
    await host.publish(second);
    const before = host.snapshot();
    const agent = host.withConfig({ reload: { commands: ['sleep 5'], timeoutSeconds: 1 } });
    const started = Date.now();
    const report = (await agent.syncOnce()).certificates[0]!;
    expect(report.action).toBe('rolled-back');
    expect(report.error).toMatch(/"sleep 5" did not finish within 1 s/);
    // Two reloads (the new files, then the old ones), each cut at 1 s.
    expect(Date.now() - started).toBeLessThan(4500);
    expect(host.snapshot()).toEqual(before);
  });

  it('removes the files again when the very first install fails to reload', async () => {
    const host = agentHost(ca.rootPem, { reload: { commands: ['false'] } });
    await host.publish(await ca.issue({ identifiers: IDS }));
    expect((await host.agent.syncOnce()).certificates[0]!.action).toBe('rolled-back');
    expect(Object.values(host.snapshot())).toEqual([undefined, undefined, undefined, undefined]);
  });
});

describe('verify: the server must serve the new serial', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

  /** A TLS server presenting what `files()` returns at each handshake. */
  async function serve(files: () => { cert: string; key: string }): Promise<number> {
    // The agent sends the certificate's first DNS name as SNI, so every handshake asks.
    server = createServer({ SNICallback: (_name, cb) => cb(null, createSecureContext(files())) });
    server.on('secureConnection', (s) => s.end());
    await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
    return (server.address() as { port: number }).port;
  }

  it('accepts the install once the server presents it', async () => {
    const { host, second } = await installed();
    await host.publish(second);
    const port = await serve(() => ({
      cert: readFileSync(host.paths.fullchain, 'utf8'),
      key: readFileSync(host.paths.key, 'utf8'),
    }));
    const agent = host.withConfig({ verify: { host: '127.0.0.1', port, timeoutSeconds: 5 } });
    expect((await agent.syncOnce()).certificates[0]).toMatchObject({
      action: 'installed',
      serial: second.serial,
    });
  });

  it('rolls back when the server keeps presenting the old certificate', async () => {
    const { host, first, second } = await installed();
    await host.publish(second);
    const port = await serve(() => ({ cert: first.bundle.fullchain, key: first.bundle.privkey }));
    const before = host.snapshot();
    const agent = host.withConfig({ verify: { host: '127.0.0.1', port, timeoutSeconds: 1 } });
    const report = (await agent.syncOnce()).certificates[0]!;
    expect(report.action).toBe('rolled-back');
    expect(report.error).toContain(
      `did not serve serial ${second.serial} within 1 s: last saw serial ${first.serial}`,
    );
    expect(host.snapshot()).toEqual(before);
  });
});

describe('the self-signed fallback', () => {
  const unreachable: CertificateStore = {
    location: 's3://unreachable',
    putBundle: () => Promise.reject(new Error('unused')),
    getManifest: () =>
      Promise.reject(
        new UnreachableError(
          'S3 GetObject failed: the endpoint is unreachable (ECONNREFUSED)',
          'check the network',
        ),
      ),
    readFile: () => Promise.reject(new Error('unused')),
    listSerials: () => Promise.resolve([]),
  };

  it('is written when nothing is installed and the bucket is unreachable, and never counts as installed', async () => {
    const host = agentHost(ca.rootPem, { fallbackSelfSigned: true });
    const agent = host.withConfig(
      { certificates: { web: { ...host.paths, identifiers: IDS } } },
      { store: unreachable },
    );
    const report = (await agent.syncOnce()).certificates[0]!;
    expect(report).toMatchObject({ action: 'fallback' });
    expect(report.error).toMatch(/unreachable/);
    const leaf = parseCertificate(readFileSync(host.paths.fullchain, 'utf8'));
    expect(leaf.issuer).toBe('CN=certkeeper fallback (self-signed)');
    expect([...leaf.dnsNames, ...leaf.ipAddresses]).toEqual(IDS);
    expect(leaf.notAfter.getTime() - Date.now()).toBeGreaterThan(3 * 24 * HOUR);
    expect(modeOf(host.paths.key)).toBe(0o600);
    expect(
      host.logs.some((l) => l.startsWith('WARN !!! certificate web: SERVING A SELF-SIGNED FALLBACK')),
    ).toBe(true);
    const state = (await host.state()).certificates.web!;
    expect(state.fallback).toBe(true);
    expect(state).not.toHaveProperty('serial');
    expect((await agentStatus(host.config.stateFile, new Date())).exitCode).toBe(1);

    // Still unreachable: the fallback on disk is valid, so it is left alone.
    const again = (await agent.syncOnce()).certificates[0]!;
    expect(again.action).toBe('error');
    expect(parseCertificate(readFileSync(host.paths.fullchain, 'utf8')).serialHex).toBe(leaf.serialHex);

    // The bucket is back: the real certificate replaces the fallback.
    const real = await ca.issue({ identifiers: IDS });
    await host.publish(real);
    expect((await host.agent.syncOnce()).certificates[0]).toEqual({
      name: 'web',
      action: 'installed',
      serial: real.serial,
    });
    const replaced = (await host.state()).certificates.web!;
    expect(replaced.serial).toBe(real.serial);
    expect(replaced).not.toHaveProperty('fallback');
  });

  it('replaces the fallback even when the manifest names the serial the state recorded before it', async () => {
    const { host, first } = await installed({ fallbackSelfSigned: true });
    // The installed certificate has expired by now, and the bucket cannot be reached.
    const later = new ManualClock(Date.parse(first.meta.notAfter) + HOUR);
    const offline = host.withConfig({}, { store: unreachable, clock: later });
    expect((await offline.syncOnce()).certificates[0]!.action).toBe('fallback');
    // Back online, same serial in the manifest (and on the clock of the test, still valid).
    expect((await host.agent.syncOnce()).certificates[0]).toMatchObject({
      action: 'installed',
      serial: first.serial,
    });
    expect(readFileSync(host.paths.fullchain, 'utf8')).toBe(first.bundle.fullchain);
  });

  it('is not written while a valid certificate is installed', async () => {
    const { host, first } = await installed({ fallbackSelfSigned: true });
    const offline = host.withConfig({}, { store: unreachable });
    expect((await offline.syncOnce()).certificates[0]!.action).toBe('error');
    expect(readFileSync(host.paths.fullchain, 'utf8')).toBe(first.bundle.fullchain);
  });

  it("is written when a refused bundle meets a missing installation, with the manifest's names", async () => {
    const host = agentHost(ca.rootPem, { fallbackSelfSigned: true });
    await host.publish(await (await createTestCa()).issue({ identifiers: IDS }));
    const report = (await host.agent.syncOnce()).certificates[0]!;
    expect(report.action).toBe('fallback');
    expect(report.error).toMatch(/trusted root/);
    const leaf = parseCertificate(readFileSync(host.paths.fullchain, 'utf8'));
    expect([...leaf.dnsNames, ...leaf.ipAddresses]).toEqual(IDS);
  });
});

describe('the state file', () => {
  it('starts over when damaged, and says so', async () => {
    const host = agentHost(ca.rootPem);
    await host.publish(await ca.issue({ identifiers: IDS }));
    mkdirSync(dirname(host.config.stateFile), { recursive: true });
    writeFileSync(host.config.stateFile, '{ not json');
    expect((await host.agent.syncOnce()).certificates[0]!.action).toBe('installed');
    expect(host.logs.some((l) => /WARN the agent state file .* is damaged/.test(l))).toBe(true);
  });

  it('feeds the Prometheus textfile after every check', async () => {
    const host = agentHost(ca.rootPem, { prometheusTextfile: 'metrics/certkeeper.prom' });
    await host.publish(await ca.issue({ identifiers: IDS }));
    await host.agent.syncOnce();
    const text = readFileSync(join(host.dir, 'metrics', 'certkeeper.prom'), 'utf8');
    expect(text).toMatch(/^certkeeper_certificate_expiry_seconds\{name="web"\} \d+$/m);
    expect(text).toMatch(/^certkeeper_agent_last_error\{name="web"\} 0$/m);
    expect(text).toMatch(/^certkeeper_agent_last_check_timestamp_seconds \d+$/m);
  });
});

describe('what a bucket writer cannot make the agent install (direct mode)', () => {
  it('an older certificate (an old manifest restored): refused with the way to allow it, then installed only when asked', async () => {
    const { host, first } = await installed();
    const older = await ca.issue({ identifiers: IDS, notBefore: new Date(Date.now() - 48 * HOUR) });
    await host.publish(older);
    const before = host.snapshot();
    const report = (await host.agent.syncOnce()).certificates[0]!;
    expect(report.action).toBe('refused');
    expect(report.error).toMatch(
      new RegExp(
        `refused serial ${older.serial} of web: it is older than the installed ${first.serial}.*Fix: .*--once --allow-older web`,
      ),
    );
    expect(host.snapshot()).toEqual(before);
    expect(host.reloads()).toEqual([first.serial]);

    const asked = host.withConfig({}, { allowOlder: ['web'] });
    expect((await asked.syncOnce()).certificates[0]).toMatchObject({
      action: 'installed',
      serial: older.serial,
    });
    expect(host.logs.some((l) => /WARN certificate web: installing an OLDER certificate/.test(l))).toBe(true);
  });

  it('a certificate for other names with a manifest to match: refused, the names of the first install kept', async () => {
    const { host, first } = await installed();
    const other = await ca.issue({ identifiers: ['evil.example.test'] });
    await host.publish(other);
    const report = (await host.agent.syncOnce()).certificates[0]!;
    expect(report.action).toBe('refused');
    expect(report.error).toMatch(
      /it names evil\.example\.test, but the installed certificate named 203\.0\.113\.10, web\.example\.test\. Fix: if the certificate's names changed on purpose, list them under certificates\.web\.identifiers/,
    );
    expect((await host.state()).certificates.web!.serial).toBe(first.serial);
    // With the names in the config, the operator's word decides.
    const told = host.withConfig({
      certificates: { web: { ...host.paths, identifiers: ['evil.example.test'] } },
    });
    expect((await told.syncOnce()).certificates[0]).toMatchObject({
      action: 'installed',
      serial: other.serial,
    });
  });

  it('a manifest or a file larger than any real one: refused before it is read whole', async () => {
    const { host, second } = await installed();
    await host.publish(second);
    writeFileSync(join(host.storeRoot, manifestKey('web')), `{"pad":"${'x'.repeat(70 * 1024)}"}`);
    const report = (await host.agent.syncOnce()).certificates[0]!;
    expect(report.action).toBe('refused');
    expect(report.error).toMatch(/current\.json is larger than 65536 bytes/);
  });
});
