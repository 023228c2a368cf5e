/**
 * The agent's side of the fleet view: with a `name`, every check ends with its report in
 * the bucket (a directory here), which the fleet evaluation reads as it would from S3.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, createServer, type SecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateFleet } from '../../../shared/fleet/evaluate.js';
import { agentReportKey, parseAgentReport } from '../../../shared/fleet/report.js';
import { HOUR, ManualClock } from '../../../shared/model/clock.js';
import { parseCertificateSpec } from '../../../shared/model/spec.js';
import { FsObjectStore } from '../../../shared/store/fs-store.js';
import type { ObjectStore } from '../../../shared/store/store.js';
import { createTestCa, type TestCa } from '../../support/test-ca.js';
import { agentHost } from '../../support/agent-host.js';

const IDS = ['web.example.test'];
let ca: TestCa;
const servers: { close(done: () => void): void }[] = [];
afterAll(() => Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done())))));
beforeAll(async () => {
  ca = await createTestCa();
});

/** A host whose agent is named web-1 and writes its report next to the certificates. */
function namedHost(input: Record<string, unknown> = {}, reports?: ObjectStore) {
  const host = agentHost(ca.rootPem, {
    name: 'web-1',
    pollIntervalSeconds: 60,
    reportIntervalSeconds: 120,
    ...input,
  });
  const objects = new FsObjectStore({ root: host.storeRoot });
  const agent = host.withConfig({}, { reports: reports ?? objects });
  const report = async () => {
    const text = await objects.get(agentReportKey('web-1'));
    return text === undefined ? undefined : parseAgentReport(text, 'web-1');
  };
  return { host, agent, objects, report };
}

describe('the agent report', () => {
  it('is written after a check with the installed serial, its expiry and the action; never key material', async () => {
    const { host, agent, objects, report } = namedHost();
    const first = await ca.issue({ identifiers: IDS });
    await host.publish(first);
    await agent.syncOnce();

    const written = (await report())!;
    expect(written).toMatchObject({
      version: 1,
      agent: 'web-1',
      // What the fleet view's silence rule reads: how often the agent promises a report.
      pollIntervalSeconds: 120,
      certificates: {
        web: {
          installedSerial: first.serial,
          installedNotAfter: first.meta.notAfter,
          lastAction: 'installed',
        },
      },
    });
    expect(written.certificates.web).not.toHaveProperty('lastError');
    expect(await objects.get(agentReportKey('web-1'))).not.toContain('PRIVATE KEY');

    await agent.syncOnce();
    expect((await report())!.certificates.web!.lastAction).toBe('unchanged');
  });

  it('is written again only when what it says changed, or once per reportIntervalSeconds (each write costs)', async () => {
    const clock = new ManualClock(Date.now());
    const { host, objects } = namedHost();
    const agent = host.withConfig({}, { reports: objects, clock });
    await host.publish(await ca.issue({ identifiers: IDS }));
    await agent.syncOnce(); // installed: written
    await agent.syncOnce(); // unchanged: what it says changed (the action), written
    const at = async () => parseAgentReport((await objects.get(agentReportKey('web-1')))!, 'web-1').at;
    const second = await at();
    clock.advance(60_000);
    await agent.syncOnce(); // the same again, within the interval: not written
    expect(await at()).toBe(second);
    clock.advance(61_000);
    await agent.syncOnce(); // 121 s after the last write: the heartbeat
    expect(await at()).toBe(clock.now().toISOString());
  });

  it('carries the last error when the check failed', async () => {
    const { agent, report } = namedHost();
    await agent.syncCertificate('web');
    const web = (await report())!.certificates.web!;
    expect(web.lastAction).toBe('error');
    expect(web.installedSerial).toBeUndefined();
    expect(web.lastError).toContain('has not been issued');
  });

  it('is not written by an agent without a name', async () => {
    const host = agentHost(ca.rootPem);
    await host.publish(await ca.issue({ identifiers: IDS }));
    await host.agent.syncOnce();
    expect(await new FsObjectStore({ root: host.storeRoot }).list('agents/')).toEqual([]);
  });

  it('does not fail the check when it cannot be written; the failure is logged', async () => {
    const refusing: ObjectStore = {
      get: async () => undefined,
      put: async () => {
        throw new Error('AccessDenied: s3:PutObject on agents/web-1/report.json');
      },
      delete: async () => undefined,
    };
    const { host, agent } = namedHost({}, refusing);
    const first = await ca.issue({ identifiers: IDS });
    await host.publish(first);
    expect((await agent.syncOnce()).certificates[0]).toMatchObject({
      action: 'installed',
      serial: first.serial,
    });
    expect(host.logs.some((l) => l.startsWith('ERROR could not write the agent report'))).toBe(true);
  });

  it("of an agent whose reload keeps failing makes a lagging event with the agent's error", async () => {
    const { host, agent, report } = namedHost({
      reload: { commands: ['echo "nginx: [emerg] bad key" >&2; exit 1'] },
    });
    const first = await ca.issue({ identifiers: IDS });
    await host.publish(first);
    await agent.syncOnce();

    const written = (await report())!;
    const web = written.certificates.web!;
    expect(web.lastAction).toBe('rolled-back');
    expect(web.lastError).toContain('rolled back to the previous files');

    const spec = parseCertificateSpec({ name: 'web', identifiers: IDS });
    spec.delivery = { agents: ['web-1'], probes: [], acmRegions: [] };
    const storedAt = new Date(Date.parse(written.at) - HOUR);
    const { events } = evaluateFleet(
      [
        {
          spec,
          state: {
            status: 'valid',
            attempts: 0,
            current: {
              serial: first.serial,
              notBefore: first.meta.notBefore,
              notAfter: first.meta.notAfter,
              manifestKey: 'certificates/web/current.json',
            },
            lastSuccessAt: storedAt.toISOString(),
            updatedAt: storedAt.toISOString(),
          },
        },
      ],
      { reports: new Map([['web-1', written]]), probes: new Map() },
      undefined,
      new Date(written.at),
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'certificate.deployment_lagging',
      serial: first.serial,
      target: { kind: 'agent', id: 'web-1', health: 'behind', error: web.lastError },
    });
    expect(events[0]!.target!.error).toContain('bad key');
  });

  /**
   * A server reloading like nginx: for a moment after a reload the new worker and the old
   * one (still on the previous certificate) both accept connections. Here: the first
   * connection after the files change gets the new certificate, the next one the old.
   *
   * The agent's served check passes on the new worker; a second handshake for the report
   * would land on the old one. The report must carry the serial the install's own served
   * check confirmed (agent/agent.ts recordServed); bench:fleet saw 2-4 of 10 nginx
   * reported on the old serial before that.
   */
  it("reports the serial the server serves after a reload, not the old worker's", async () => {
    const first = await ca.issue({ identifiers: IDS });
    const second = await ca.issue({ identifiers: IDS });
    /** The host's paths, known once the host exists (after the server). */
    const paths = { fullchain: '', key: '' };
    let seen = '';
    let current: SecureContext | undefined;
    let old: SecureContext | undefined;
    let window = 0;
    const server = createServer({
      SNICallback: (_name, done) => {
        try {
          const fullchain = readFileSync(paths.fullchain, 'utf8');
          const key = readFileSync(paths.key, 'utf8');
          if (fullchain !== seen) {
            old = current;
            current = createSecureContext({ cert: fullchain, key });
            seen = fullchain;
            window = old ? 2 : 0;
          }
          const serveOld = window > 0 && window-- % 2 === 1;
          done(null, serveOld ? old : current);
        } catch (err) {
          done(err as Error);
        }
      },
    });
    servers.push(server);
    await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
    const port = (server.address() as { port: number }).port;

    const { host, agent, report } = namedHost({
      verify: { host: '127.0.0.1', port, sni: IDS[0], timeoutSeconds: 5 },
    });
    Object.assign(paths, { fullchain: host.paths.fullchain, key: host.paths.key });
    await host.publish(first);
    await agent.syncOnce();
    expect((await report())!.certificates.web).toMatchObject({ servedSerial: first.serial });

    await host.publish(second);
    expect((await agent.syncOnce()).certificates[0]).toMatchObject({
      action: 'installed',
      serial: second.serial,
    });
    expect((await report())!.certificates.web).toMatchObject({
      installedSerial: second.serial,
      servedSerial: second.serial,
    });
  });
});
