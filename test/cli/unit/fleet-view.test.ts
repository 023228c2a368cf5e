/**
 * The fleet snapshot (cli/fleet-view/), pure: made from inventory records and the fleet view
 * that evaluateFleet (the fleet tick's own logic) makes of agent reports, on a fixed clock.
 */
import { describe, expect, it } from 'vitest';
import { buildFleetSnapshot } from '../../../cli/fleet-view/build.js';
import { RECENT_EVENTS } from '../../../cli/fleet-view/events.js';
import { problemFix } from '../../../cli/fleet-view/problem-fix.js';
import { fleetSnapshotSchema } from '../../../cli/fleet-view/schema.js';
import type { FleetReading } from '../../../cli/fleet-view/source.js';
import { relativeTime } from '../../../cli/output.js';
import { evaluateFleet } from '../../../shared/fleet/evaluate.js';
import type { AgentReport } from '../../../shared/fleet/report.js';
import { durationText, minutesSince, wholeMinutes } from '../../../shared/model/age.js';
import { DAY, HOUR, MINUTE, SECOND } from '../../../shared/model/clock.js';
import type { InventoryRecord } from '../../../shared/model/state.js';
import { NEW, OLD, STORED, at, deployment, iso, record, report } from '../../support/fleet-records.js';

const SOURCE = { kind: 'stack', location: 's3://bucket' } as const;

function snapshot(
  records: InventoryRecord[],
  reports: AgentReport[],
  now: Date,
  extra: Partial<FleetReading> = {},
) {
  const observed = { reports: new Map(reports.map((r) => [r.agent, r])), probes: new Map() };
  const { status } = evaluateFleet(records, observed, undefined, now);
  return fleetSnapshotSchema.parse(buildFleetSnapshot({ records, view: status, ...extra }, SOURCE, now));
}

describe('the fleet snapshot', () => {
  const now = at(2 * HOUR);
  const web = record({ agents: ['web-1', 'web-2', 'web-3'] });
  const reports = [
    report('web-1', now, { web: deployment({ installedSerial: NEW, servedSerial: NEW }) }),
    report('web-2', now, { web: deployment({ installedSerial: OLD, servedSerial: OLD }) }),
    // Last heard of 50 minutes ago, on the old serial: silent.
    report('web-3', now, { web: deployment({ installedSerial: OLD }) }, 50 * MINUTE),
  ];

  it('keeps the first status --json fields and adds the rest, valid against its schema', () => {
    const s = snapshot([web], reports, now);
    expect(s).toMatchObject({
      version: 1,
      generatedAt: now.toISOString(),
      at: now.toISOString(),
      lagMinutes: 30,
    });
    expect(s.summary).toEqual({
      targets: 3,
      ok: 1,
      updating: 0,
      behind: 1,
      silent: 1,
      unreachable: 0,
      expiring: 0,
    });
    const c = s.certificates[0]!;
    expect(c).toMatchObject({
      name: 'web',
      status: 'valid',
      serial: NEW,
      state: 'issued',
      renewalBy: 'policy',
    });
    expect(c.targets.map((t) => `${t.id} ${t.health}`)).toEqual(['web-1 ok', 'web-2 behind', 'web-3 silent']);
  });

  it('a silent target lacks the current serial since it was stored, as a behind one does', () => {
    const [ok, behind, silent] = snapshot([web], reports, now).certificates[0]!.targets;
    expect(ok).toMatchObject({ lacksCurrentSince: null, behindMinutes: null, reportAgeMinutes: 1 });
    expect(behind).toMatchObject({ lacksCurrentSince: STORED.toISOString(), behindMinutes: 120 });
    // The fleet view names no behindSince for silence; status printed "-" for it.
    expect(silent!.behindSince).toBeUndefined();
    expect(silent).toMatchObject({
      lacksCurrentSince: STORED.toISOString(),
      behindMinutes: 120,
      reportAgeMinutes: 50,
    });
  });

  it('agents: each with what it receives, what it has, its last report and error', () => {
    // Sorted by name, as the inventory lists them.
    const s = snapshot([record({ agents: ['web-1'] }, {}, 'api'), web], reports, now);
    expect(s.agents.map((a) => a.name)).toEqual(['web-1', 'web-2', 'web-3']);
    const one = s.agents[0]!;
    expect(one).toMatchObject({
      status: 'configured',
      identity: null,
      selector: { certificates: ['api', 'web'], labels: null },
    });
    expect(one.certificates.map((c) => `${c.certificate} ${c.health}`)).toEqual(['api behind', 'web ok']);
    expect(s.agents[2]).toMatchObject({
      reportAgeMinutes: 50,
      certificates: [
        {
          certificate: 'web',
          health: 'silent',
          installedSerial: OLD,
          currentSerial: NEW,
          lacksCurrentSince: STORED.toISOString(),
        },
      ],
    });
    expect(s.agents[1]!.lastError).toBeNull();
  });

  it('registry agents fit in: status, identity and a label selector', () => {
    const edge = record({}, {}, 'edge');
    (edge.spec as unknown as { labels: Record<string, string> }).labels = { role: 'edge' };
    const s = snapshot([edge, web], reports, now, {
      agents: [
        {
          name: 'edge-7',
          status: 'active',
          selector: { certificates: [], labels: { role: 'edge' } },
          identity: { serial: '0A', notAfter: iso(3 * DAY) },
          lastReportAt: iso(HOUR),
        },
      ],
    });
    expect(s.certificates[0]!.labels).toEqual({ role: 'edge' });
    expect(s.agents.find((a) => a.name === 'edge-7')).toMatchObject({
      status: 'active',
      identity: { serial: '0A', notAfter: iso(3 * DAY) },
      selector: { certificates: [], labels: { role: 'edge' } },
      reportAgeMinutes: 60,
      certificates: [{ certificate: 'edge', health: null, currentSerial: NEW }],
    });
  });

  it('one word per certificate, worst first', () => {
    const lifetime = (notBefore: number, days: number) => ({
      current: {
        serial: NEW,
        notBefore: iso(notBefore),
        notAfter: iso(notBefore + days * DAY),
        manifestKey: 'k',
      },
    });
    const failed = {
      attempts: 2,
      lastError: {
        code: 'acme-problem',
        type: 'urn:ietf:params:acme:error:rateLimited',
        detail: 'ACME rateLimited: too many',
        at: iso(0),
      },
    };
    const states = [
      record({}, lifetime(0, 90), 'issued'),
      record({}, lifetime(-80 * DAY, 90), 'due'),
      record({}, { ...lifetime(-80 * DAY, 90), ...failed }, 'failing'),
      record({}, { ...lifetime(-89.5 * DAY, 90), ...failed }, 'expiring'),
      record({}, lifetime(-91 * DAY, 90), 'expired'),
      record({}, { status: 'pending', current: undefined }, 'pending'),
      record({}, { status: 'retired' }, 'retired'),
    ];
    const s = snapshot(states, [], now);
    expect(Object.fromEntries(s.certificates.map((c) => [c.name, c.state]))).toEqual({
      issued: 'issued',
      due: 'due',
      failing: 'failing',
      expiring: 'expiring',
      expired: 'expired',
      pending: 'pending',
      retired: 'retired',
    });
    expect(s.certificates.find((c) => c.name === 'failing')!.lastError).toMatchObject({
      type: 'urn:ietf:params:acme:error:rateLimited',
      fix: expect.stringMatching(/^the CA's rate limit/),
    });
  });

  it("the CA's ARI window and choice, when it is this certificate's", () => {
    const ari = {
      certId: 'id-1',
      windowStart: iso(40 * DAY),
      windowEnd: iso(42 * DAY),
      selectedAt: iso(41 * DAY),
      lastPolledAt: iso(0),
      nextPollAt: iso(6 * HOUR),
    };
    const current = {
      serial: NEW,
      notBefore: iso(-HOUR),
      notAfter: iso(89 * DAY),
      manifestKey: 'k',
      certId: 'id-1',
    };
    const [mine, stale] = snapshot(
      [record({}, { current, ari }, 'a'), record({}, { current: { ...current, certId: 'id-2' }, ari }, 'b')],
      [],
      now,
    ).certificates;
    expect(mine).toMatchObject({
      renewalBy: 'ari',
      renewalAt: iso(41 * DAY),
      ari: { windowStart: iso(40 * DAY), selectedAt: iso(41 * DAY) },
    });
    expect(stale).toMatchObject({ renewalBy: 'policy', ari: null });
  });

  it('recent events: issued, failed and lagging, newest first, at most RECENT_EVENTS', () => {
    const failing = record(
      {},
      { attempts: 1, lastError: { code: 'unreachable', detail: 'CA down', at: iso(90 * MINUTE) } },
      'api',
    );
    const s = snapshot([failing, web], reports, now);
    expect(s.events.map((e) => `${e.type} ${e.certificate} ${e.target?.id ?? ''}`.trim())).toEqual([
      'lagging web web-2',
      'lagging web web-3',
      'failed api',
      'issued api',
      'issued web',
    ]);
    expect(s.events.find((e) => e.type === 'failed')!.detail).toBe('attempt 1: unreachable: CA down');
    const many = Array.from({ length: RECENT_EVENTS + 10 }, (_, i) => record({}, {}, `c-${i}`));
    expect(snapshot(many, [], now).events).toHaveLength(RECENT_EVENTS);
  });

  it('no fleet view yet: the certificates alone', () => {
    const s = fleetSnapshotSchema.parse(buildFleetSnapshot({ records: [web], view: undefined }, SOURCE, now));
    expect(s).toMatchObject({ at: null, lagMinutes: null, summary: { targets: 0 } });
    expect(s.certificates[0]!.targets).toEqual([]);
    expect(s.agents.map((a) => a.name)).toEqual(['web-1', 'web-2', 'web-3']);
  });
});

describe('the fix for a stored problem', () => {
  it('by ACME problem type (RFC 8555 §6.7), else by certkeeper error code', () => {
    expect(problemFix({ code: 'acme-problem', type: 'urn:ietf:params:acme:error:caa' })).toMatch(
      /CAA record/,
    );
    expect(problemFix({ code: 'acme-problem', type: 'urn:ietf:params:acme:error:somethingNew' })).toMatch(
      /unexpected error/,
    );
    expect(problemFix({ code: 'unreachable' })).toMatch(/could not reach the CA/);
    expect(problemFix({ code: 'validation' })).toMatch(/names the field/);
  });
});

describe('ages, one rounding everywhere', () => {
  it('floors to whole minutes: 59 s is 0 min, 60 s is 1 min, in the table and the snapshot alike', () => {
    const now = at(0);
    expect(wholeMinutes(59 * SECOND)).toBe(0);
    expect(wholeMinutes(60 * SECOND)).toBe(1);
    expect(wholeMinutes(-5 * SECOND)).toBe(0);
    expect(minutesSince(iso(-90 * SECOND), now)).toBe(1);
    expect(relativeTime(iso(-90 * SECOND), now)).toBe('1 min ago');
    expect(relativeTime(iso(26 * HOUR + 30 * MINUTE), now)).toBe('in 1 d 2 h');
    expect(durationText(2 * HOUR + 5 * MINUTE + 59 * SECOND)).toBe('2 h 5 min');
  });
});
