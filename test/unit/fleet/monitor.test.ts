/**
 * One fleet tick on the local adapters: reports and the fleet view in a filesystem bucket,
 * the file inventory, events in memory; probes are real TLS connections to 127.0.0.1.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryPublisher } from '../../../shared/events/publisher.js';
import { loadFleetStatus, monitorFleet } from '../../../shared/fleet/monitor.js';
import {
  AGENT_REPORT_MAX_BYTES,
  agentReportKey,
  type CertificateDeployment,
  serializeAgentReport,
} from '../../../shared/fleet/report.js';
import { FLEET_STATUS_KEY } from '../../../shared/fleet/status.js';
import { FileAgentRegistry } from '../../../shared/agents/file.js';
import { newAgentRecord, removedRecord } from '../../../shared/agents/records.js';
import { FileInventory } from '../../../shared/inventory/file.js';
import { FileLeaseLock } from '../../../shared/lock/file.js';
import { HOUR, MINUTE, ManualClock } from '../../../shared/model/clock.js';
import { parseCertificateSpec } from '../../../shared/model/spec.js';
import { FsObjectStore } from '../../../shared/store/fs-store.js';
import { createTestCa, type IssuedBundle } from '../../support/test-ca.js';
import { recordingLog } from '../../support/agent-host.js';
import { report } from '../../support/fleet-records.js';
import { declareSpec } from '../../../shared/usecases/declare-certificates.js';
import { amendState } from '../../../shared/inventory/inventory.js';

const NAME = 'www';
const IDENTIFIERS = ['www.example.com'];

let root: string;
let clock: ManualClock;
let objects: FsObjectStore;
let inventory: FileInventory;
let events: MemoryPublisher;
let logs: string[];
let leaf: IssuedBundle;
let server: TlsServer;
let servedPort: number;
let closedPort: number;

const tick = () =>
  monitorFleet({ inventory, objects, events, clock, log: recordingLog(logs), probeTimeoutMs: 5000 });

const putReport = (key: string, text: string) => objects.put(key, text);
const current = (): Record<string, CertificateDeployment> => ({
  [NAME]: {
    installedSerial: leaf.serial,
    servedSerial: leaf.serial,
    lastAction: 'unchanged',
    checkedAt: clock.now().toISOString(),
  },
});

function listen(s: NetServer): Promise<number> {
  return new Promise((done) => s.listen(0, '127.0.0.1', () => done((s.address() as { port: number }).port)));
}

/** A port that was just free: listened on, then closed, so nothing answers there. */
async function closedLocalPort(): Promise<number> {
  const s = createNetServer();
  const port = await listen(s);
  await new Promise((done) => s.close(done));
  return port;
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'certkeeper-fleet-'));
  clock = new ManualClock(Date.now());
  objects = new FsObjectStore({ root: join(root, 'bucket') });
  const lock = new FileLeaseLock({ dir: join(root, 'locks'), clock });
  inventory = new FileInventory({ dir: join(root, 'inventory'), lock });
  events = new MemoryPublisher();
  logs = [];

  // The certificate in place, served by a TLS server on 127.0.0.1 that the probe reads.
  leaf = await (await createTestCa()).issue({ identifiers: IDENTIFIERS });
  server = createTlsServer({ cert: leaf.bundle.fullchain, key: leaf.bundle.privkey });
  servedPort = await listen(server);
  closedPort = await closedLocalPort();

  const spec = parseCertificateSpec({
    name: NAME,
    identifiers: IDENTIFIERS,
    probes: [`127.0.0.1:${servedPort}`, `127.0.0.1:${closedPort}`],
  });
  spec.delivery!.agents = ['web-1', 'web-2', 'web-3', 'web-4'];
  await declareSpec(inventory, spec, clock);
  await amendState(inventory, NAME, ({ state }) => ({
    ...state,
    status: 'valid',
    current: {
      serial: leaf.serial,
      notBefore: leaf.meta.notBefore,
      notAfter: leaf.meta.notAfter,
      manifestKey: `certificates/${NAME}/current.json`,
    },
    lastSuccessAt: new Date(clock.now().getTime() - HOUR).toISOString(),
  }));
});

afterEach(async () => {
  await new Promise((done) => server.close(done));
  await rm(root, { recursive: true, force: true });
});

describe('monitorFleet', () => {
  it('ignores a malformed, an oversized and a foreign report (log line and count), using the valid one', async () => {
    const now = clock.now();
    await putReport(agentReportKey('web-1'), serializeAgentReport(report('web-1', now, current())));
    await putReport(agentReportKey('web-2'), '{"version": 1, "agent": "web-2"');
    const huge = { ...report('web-3', now, current()), host: 'x'.repeat(AGENT_REPORT_MAX_BYTES) };
    await putReport(agentReportKey('web-3'), JSON.stringify(huge));
    // Written under web-4's key, but web-1's: a copy, or an agent configured with another name.
    await putReport(agentReportKey('web-4'), serializeAgentReport(report('web-1', now, current())));
    // An agent no certificate lists: the stack would not have let it write; ignored anyway.
    await putReport(agentReportKey('intruder'), serializeAgentReport(report('intruder', now, current())));
    // Not a report at all: skipped without a word.
    await putReport('agents/web-1/notes.txt', 'hello');

    const result = await tick();

    const ignored = [...result.ignoredReports].sort((a, b) => a.key.localeCompare(b.key));
    expect(ignored.map((i) => i.key)).toEqual([
      'agents/intruder/report.json',
      'agents/web-2/report.json',
      'agents/web-3/report.json',
      'agents/web-4/report.json',
    ]);
    expect(ignored[0]!.reason).toBe('agent "intruder" is not in the registry and no certificate lists it');
    expect(ignored[1]!.reason).toContain('is not JSON');
    expect(ignored[2]!.reason).toContain(`over the ${AGENT_REPORT_MAX_BYTES}-byte limit`);
    expect(ignored[3]!.reason).toContain('names agent "web-1", not "web-4"');
    for (const { key } of ignored) {
      expect(logs.filter((l) => l.startsWith(`WARN ignoring agent report ${key}: `))).toHaveLength(1);
    }
    expect(logs.some((l) => l.includes('notes.txt'))).toBe(false);

    // The valid report and the probes still make the view; ignored agents count as silent.
    const view = (await loadFleetStatus(objects))!;
    const targets = view.certificates[NAME]!.targets.map((t) => [t.kind, t.id, t.health]);
    expect(targets).toEqual([
      ['agent', 'web-1', 'ok'],
      ['agent', 'web-2', 'silent'],
      ['agent', 'web-3', 'silent'],
      ['agent', 'web-4', 'silent'],
      ['probe', `127.0.0.1:${servedPort}`, 'ok'],
      ['probe', `127.0.0.1:${closedPort}`, 'unreachable'],
    ]);
    expect(view.certificates[NAME]!.targets[4]!.servedSerial).toBe(leaf.serial);
    expect(view.certificates[NAME]!.targets[5]!.error).toMatch(/^closed: .*connection refused/);
    expect(result.summary).toEqual({
      targets: 6,
      ok: 2,
      updating: 0,
      behind: 0,
      silent: 3,
      unreachable: 1,
      expiring: 0,
    });
    expect(result.published).toBe(4);
    expect(events.events.map((e) => `${e.type} ${e.target?.id}`).sort()).toEqual(
      [
        'certificate.deployment_lagging web-2',
        'certificate.deployment_lagging web-3',
        'certificate.deployment_lagging web-4',
        `certificate.deployment_lagging 127.0.0.1:${closedPort}`,
      ].sort(),
    );

    // The next tick finds the same: nothing is announced twice.
    clock.advance(MINUTE);
    const again = await tick();
    expect(again.published).toBe(0);
    expect(again.ignoredReports).toHaveLength(4);
  });

  it('starts the view afresh from a damaged fleet/status.json, announcing current problems again', async () => {
    await putReport(agentReportKey('web-1'), serializeAgentReport(report('web-1', clock.now(), current())));
    const first = await tick();
    expect(first.published).toBe(4); // web-2..4 never reported, one closed port

    clock.advance(MINUTE);
    expect((await tick()).published).toBe(0);

    await objects.put(FLEET_STATUS_KEY, '{"version": 1, "at": "yesterday"');
    clock.advance(MINUTE);
    const afresh = await tick();
    expect(
      logs.filter((l) => l.includes(`${FLEET_STATUS_KEY} is damaged; starting the fleet view afresh`)),
    ).toHaveLength(1);
    expect(afresh.published).toBe(4);
    expect(afresh.summary.ok).toBe(2);
    // And what it saved is whole again.
    expect((await loadFleetStatus(objects))?.at).toBe(clock.now().toISOString());
  });

  it('reads a view that is valid JSON but not the schema as damaged too', async () => {
    await objects.put(FLEET_STATUS_KEY, JSON.stringify({ version: 2, certificates: [] }));
    expect(await loadFleetStatus(objects, recordingLog(logs))).toBeUndefined();
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^WARN .*fleet\/status\.json is damaged/);
  });
  it("ignores and counts a removed agent's report, and shows the agent removed rather than silent", async () => {
    const registry = new FileAgentRegistry({ dir: join(root, 'registry') });
    const selector = { certificates: [NAME], labels: {} };
    await registry.update('gone', () => newAgentRecord('gone', selector, 'cli', clock.now()));
    await registry.update('gone', (stored) => removedRecord(stored!, clock.now()));
    await putReport(agentReportKey('gone'), serializeAgentReport(report('gone', clock.now(), current())));

    const result = await monitorFleet({
      inventory,
      objects,
      registry,
      events,
      clock,
      log: recordingLog(logs),
      probeTimeoutMs: 5000,
    });

    expect(result.removedReports).toBe(1);
    const ignored = result.ignoredReports.find((i) => i.key === agentReportKey('gone'));
    expect(ignored?.reason).toBe(
      `agent "gone" was removed at ${clock.now().toISOString()}; its report is ignored`,
    );
    const view = (await loadFleetStatus(objects))!;
    expect(view.certificates[NAME]!.targets.some((t) => t.id === 'gone')).toBe(false);
    expect(events.events.some((e) => e.target?.id === 'gone')).toBe(false);
  });
});
