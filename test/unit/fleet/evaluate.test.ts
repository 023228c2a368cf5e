import { describe, expect, it } from 'vitest';
import { DEFAULT_FLEET_RULES, evaluateFleet, type FleetEvaluation } from '../../../shared/fleet/evaluate.js';
import type { ServedCertificate } from '../../../shared/fleet/probe.js';
import type { AgentReport } from '../../../shared/fleet/report.js';
import type { FleetStatus, TargetStatus } from '../../../shared/fleet/status.js';
import { HOUR, MINUTE, ManualClock, SECOND } from '../../../shared/model/clock.js';
import type { InventoryRecord } from '../../../shared/model/state.js';
import {
  acm,
  at,
  deployment,
  IDENTIFIERS,
  iso,
  NAME,
  NEW,
  OLD,
  record,
  report,
  STORED,
} from '../../support/fleet-records.js';

type ProbeResult = ServedCertificate | { error: string };

/** One fleet tick at `clock.now()`, fed the previous tick's view. */
class Fleet {
  previous: FleetStatus | undefined;
  constructor(readonly clock: ManualClock) {}

  tick(
    records: InventoryRecord[],
    reports: AgentReport[] = [],
    probes: Record<string, ProbeResult> = {},
  ): FleetEvaluation {
    const result = evaluateFleet(
      records,
      {
        reports: new Map(reports.map((r) => [r.agent, r])),
        probes: new Map([[NAME, new Map(Object.entries(probes))]]),
      },
      this.previous,
      this.clock.now(),
    );
    this.previous = result.status;
    return result;
  }
}

const only = (e: FleetEvaluation): TargetStatus => {
  const targets = e.status.certificates[NAME]!.targets;
  expect(targets).toHaveLength(1);
  return targets[0]!;
};

const served = (serial: string, names = IDENTIFIERS, notAfter = iso(60 * 24 * HOUR)): ServedCertificate => ({
  serial,
  notAfter,
  names,
});

describe('evaluateFleet: one agent through a renewal', () => {
  it('ok, updating inside the lag, behind after it (one event), still behind, ok again (one event)', () => {
    const clock = new ManualClock(at(-10 * MINUTE));
    const fleet = new Fleet(clock);
    const agent = (extra: Parameters<typeof deployment>[0]) =>
      report('web-1', clock.now(), { [NAME]: deployment(extra) });
    const error = 'rolled back to the previous files: nginx -s reload exited with 1. Fix: check nginx -t';

    // Before the renewal: the current serial is OLD and the agent has it.
    const before = record(
      { agents: ['web-1'] },
      {
        current: {
          serial: OLD,
          notBefore: iso(-40 * 24 * HOUR),
          notAfter: iso(50 * 24 * HOUR),
          manifestKey: 'x',
        },
        lastSuccessAt: iso(-40 * 24 * HOUR),
      },
    );
    let tick = fleet.tick([before], [agent({ servedSerial: OLD })]);
    expect(only(tick)).toMatchObject({ kind: 'agent', id: 'web-1', health: 'ok', alerting: false });
    expect(tick.events).toEqual([]);

    // NEW is stored at STORED; ten minutes later the agent has tried and rolled back.
    const renewed = record({ agents: ['web-1'] });
    clock.set(at(10 * MINUTE));
    tick = fleet.tick([renewed], [agent({ servedSerial: OLD, lastAction: 'rolled-back', lastError: error })]);
    expect(only(tick)).toMatchObject({ health: 'updating', behindSince: STORED.toISOString() });
    expect(tick.events).toEqual([]);

    // The lag (30 min) ends: behind, announced once with both serials and the agent's error.
    clock.set(at(30 * MINUTE));
    tick = fleet.tick([renewed], [agent({ servedSerial: OLD, lastAction: 'rolled-back', lastError: error })]);
    expect(only(tick)).toMatchObject({ health: 'behind', alerting: true, since: iso(30 * MINUTE) });
    expect(tick.events).toHaveLength(1);
    expect(tick.events[0]).toMatchObject({
      type: 'certificate.deployment_lagging',
      certificate: NAME,
      identifiers: IDENTIFIERS,
      serial: NEW,
      target: {
        kind: 'agent',
        id: 'web-1',
        health: 'behind',
        installedSerial: OLD,
        servedSerial: OLD,
        behindSince: STORED.toISOString(),
        error,
      },
    });

    // Next tick, still behind: nothing new, and `since` keeps the moment it turned.
    clock.set(at(45 * MINUTE));
    tick = fleet.tick([renewed], [agent({ servedSerial: OLD, lastAction: 'rolled-back', lastError: error })]);
    expect(only(tick)).toMatchObject({ health: 'behind', alerting: true, since: iso(30 * MINUTE) });
    expect(tick.events).toEqual([]);

    // It installs and serves NEW: recovered, once.
    clock.set(at(50 * MINUTE));
    tick = fleet.tick(
      [renewed],
      [agent({ installedSerial: NEW, servedSerial: NEW, lastAction: 'installed' })],
    );
    expect(only(tick)).toMatchObject({ health: 'ok', alerting: false, since: iso(50 * MINUTE) });
    expect(tick.events).toHaveLength(1);
    expect(tick.events[0]).toMatchObject({
      type: 'certificate.deployment_recovered',
      serial: NEW,
      target: { kind: 'agent', id: 'web-1', health: 'ok', servedSerial: NEW },
    });

    clock.set(at(55 * MINUTE));
    tick = fleet.tick([renewed], [agent({ installedSerial: NEW, servedSerial: NEW })]);
    expect(only(tick).health).toBe('ok');
    expect(tick.events).toEqual([]);
  });

  it('is still updating one millisecond before the lag ends', () => {
    const fleet = new Fleet(new ManualClock(at(30 * MINUTE - 1)));
    const tick = fleet.tick(
      [record({ agents: ['web-1'] })],
      [report('web-1', fleet.clock.now(), { [NAME]: deployment() })],
    );
    expect(only(tick).health).toBe('updating');
    expect(tick.events).toEqual([]);
  });

  it('takes the served serial over the installed one (installed but not reloaded is behind)', () => {
    const fleet = new Fleet(new ManualClock(at(HOUR)));
    const tick = fleet.tick(
      [record({ agents: ['web-1'] })],
      [
        report('web-1', fleet.clock.now(), {
          [NAME]: deployment({ installedSerial: NEW, servedSerial: OLD }),
        }),
      ],
    );
    expect(only(tick)).toMatchObject({ health: 'behind', installedSerial: NEW, servedSerial: OLD });
  });

  it('compares serials as numbers: a leading zero on one side still matches', () => {
    const fleet = new Fleet(new ManualClock(at(HOUR)));
    const tick = fleet.tick(
      [record({ agents: ['web-1'] })],
      [
        report('web-1', fleet.clock.now(), {
          [NAME]: deployment({ installedSerial: `00${NEW.toLowerCase()}` }),
        }),
      ],
    );
    expect(only(tick).health).toBe('ok');
  });
});

describe('evaluateFleet: silent agents', () => {
  it('is silent one millisecond after 3 poll intervals without a report, not at exactly 3', () => {
    const fleet = new Fleet(new ManualClock(at(HOUR)));
    const current = { [NAME]: deployment({ installedSerial: NEW }) };
    const threeIntervals = 3 * 300 * SECOND;

    let tick = fleet.tick(
      [record({ agents: ['web-1'] })],
      [report('web-1', fleet.clock.now(), current, threeIntervals)],
    );
    expect(only(tick).health).toBe('ok');

    tick = fleet.tick(
      [record({ agents: ['web-1'] })],
      [report('web-1', fleet.clock.now(), current, threeIntervals + 1)],
    );
    expect(only(tick)).toMatchObject({
      health: 'silent',
      lastReportAt: iso(HOUR - threeIntervals - 1),
      error: 'no report for 15 min',
    });
    expect(tick.events).toHaveLength(1);
    expect(tick.events[0]).toMatchObject({
      type: 'certificate.deployment_lagging',
      target: { kind: 'agent', id: 'web-1', health: 'silent' },
    });
  });

  it("keeps a silent agent's last error as the reason", () => {
    const fleet = new Fleet(new ManualClock(at(HOUR)));
    const tick = fleet.tick(
      [record({ agents: ['web-1'] })],
      [report('web-1', fleet.clock.now(), { [NAME]: deployment({ lastError: 'bucket unreachable' }) }, HOUR)],
    );
    expect(only(tick)).toMatchObject({ health: 'silent', error: 'bucket unreachable' });
  });

  it('is silent, announced once, when the agent never reported', () => {
    const fleet = new Fleet(new ManualClock(at(MINUTE)));
    const records = [record({ agents: ['web-1'] })];
    let tick = fleet.tick(records);
    expect(only(tick)).toMatchObject({ health: 'silent', alerting: true });
    expect(only(tick).error).toMatch(/no report from this agent/);
    expect(only(tick).lastReportAt).toBeUndefined();
    expect(tick.events.map((e) => e.type)).toEqual(['certificate.deployment_lagging']);

    fleet.clock.advance(15 * MINUTE);
    tick = fleet.tick(records);
    expect(tick.events).toEqual([]);
  });

  it('is behind at once when the agent reports without this certificate (not in its config)', () => {
    const fleet = new Fleet(new ManualClock(at(MINUTE)));
    const tick = fleet.tick(
      [record({ agents: ['web-1'] })],
      [report('web-1', fleet.clock.now(), { other: deployment({ installedSerial: NEW }) })],
    );
    expect(only(tick)).toMatchObject({
      health: 'behind',
      behindSince: STORED.toISOString(),
      error: `the agent reports but has no "${NAME}" in its config`,
    });
    expect(tick.events).toHaveLength(1);
  });
});

describe('evaluateFleet: expiring wins', () => {
  it('calls a target expiring when what it serves has under 24 h left, even on the current serial', () => {
    const fleet = new Fleet(new ManualClock(at(HOUR)));
    const now = fleet.clock.now();
    const serving = (hoursLeft: number) => [
      report('web-1', now, {
        [NAME]: deployment({
          installedSerial: NEW,
          servedSerial: NEW,
          servedNotAfter: new Date(now.getTime() + hoursLeft * HOUR).toISOString(),
        }),
      }),
    ];
    let tick = fleet.tick([record({ agents: ['web-1'] })], serving(23));
    expect(only(tick)).toMatchObject({ health: 'expiring', alerting: true });
    expect(tick.events).toHaveLength(1);

    tick = fleet.tick([record({ agents: ['web-1'] })], serving(25));
    expect(only(tick).health).toBe('ok');
    expect(tick.events.map((e) => e.type)).toEqual(['certificate.deployment_recovered']);
  });

  it('prefers expiring over behind inside and after the lag', () => {
    const fleet = new Fleet(new ManualClock(at(2 * HOUR)));
    const tick = fleet.tick(
      [record({ agents: ['web-1'] })],
      [
        report('web-1', fleet.clock.now(), {
          [NAME]: deployment({ servedSerial: OLD, servedNotAfter: iso(3 * HOUR) }),
        }),
      ],
    );
    expect(only(tick)).toMatchObject({ health: 'expiring', notAfter: iso(3 * HOUR) });
  });
});

describe('evaluateFleet: probes', () => {
  const endpoint = { host: '203.0.113.10', port: 443 };
  const id = '203.0.113.10:443';
  const probed = (now: Date, result: ProbeResult | undefined) => {
    const fleet = new Fleet(new ManualClock(now));
    return fleet.tick([record({ probes: [endpoint] })], [], result ? { [id]: result } : {});
  };

  it('is ok when the endpoint serves the current serial', () => {
    expect(only(probed(at(HOUR), served(NEW)))).toMatchObject({
      kind: 'probe',
      id,
      health: 'ok',
      servedSerial: NEW,
    });
  });

  it('is unreachable, with the error, when the probe failed', () => {
    const error = 'closed: 203.0.113.10:443: connection refused (nothing listens on that port?)';
    const tick = probed(at(MINUTE), { error });
    expect(only(tick)).toMatchObject({ health: 'unreachable', error });
    expect(tick.events[0]).toMatchObject({
      type: 'certificate.deployment_lagging',
      target: { kind: 'probe', id, health: 'unreachable', error },
    });
  });

  it('is unreachable when no probe result came back this tick', () => {
    expect(only(probed(at(MINUTE), undefined))).toMatchObject({
      health: 'unreachable',
      error: 'not probed this tick',
    });
  });

  it('is wrong-certificate when the names served are not this certificate, even inside the lag', () => {
    const tick = probed(at(MINUTE), served('0BAD', ['other.example.net']));
    expect(only(tick)).toMatchObject({
      health: 'wrong-certificate',
      servedSerial: '0BAD',
      error: 'serves a certificate for other.example.net, not for www.example.com',
    });
    expect(tick.events).toHaveLength(1);
  });

  it('is updating, then behind, when it serves an older serial of this certificate', () => {
    expect(only(probed(at(MINUTE), served(OLD))).health).toBe('updating');
    expect(only(probed(at(HOUR), served(OLD)))).toMatchObject({
      health: 'behind',
      servedSerial: OLD,
      behindSince: STORED.toISOString(),
    });
  });

  it('names the probe target with brackets for IPv6 and the SNI after a slash', () => {
    const fleet = new Fleet(new ManualClock(at(HOUR)));
    const tick = fleet.tick(
      [record({ probes: [{ host: '2001:db8::1', port: 8443, sni: 'www.example.com' }] })],
      [],
      { '[2001:db8::1]:8443/www.example.com': served(NEW) },
    );
    expect(only(tick)).toMatchObject({ id: '[2001:db8::1]:8443/www.example.com', health: 'ok' });
  });
});

describe('evaluateFleet: ACM regions', () => {
  const inRegion = (now: Date, state: Parameters<typeof acm>[0] | undefined) =>
    new Fleet(new ManualClock(now)).tick([
      record({ acmRegions: ['us-east-1'] }, state ? { acm: { 'us-east-1': acm(state) } } : {}),
    ]);

  it('is ok when ACM holds the current serial', () => {
    expect(
      only(inRegion(at(HOUR), { arn: 'arn:aws:acm:us-east-1:1:certificate/x', serial: NEW })),
    ).toMatchObject({
      kind: 'acm',
      id: 'us-east-1',
      health: 'ok',
      installedSerial: NEW,
    });
  });

  it('is failed, with the import error, when the import of the current serial failed', () => {
    const error = 'ACM ImportCertificate: LimitExceededException';
    const tick = inRegion(at(MINUTE), { serial: OLD, error });
    expect(only(tick)).toMatchObject({ health: 'failed', installedSerial: OLD, error });
    expect(tick.events[0]).toMatchObject({
      target: { kind: 'acm', id: 'us-east-1', health: 'failed', error },
    });
  });

  it('is updating, then behind, when no import is recorded for the region', () => {
    expect(only(inRegion(at(MINUTE), undefined)).health).toBe('updating');
    expect(only(inRegion(at(HOUR), undefined))).toMatchObject({
      health: 'behind',
      installedSerial: undefined,
    });
  });
});

describe('evaluateFleet: what it leaves out', () => {
  it('skips retired certificates and certificates without delivery targets', () => {
    const plain = record({});
    delete plain.spec.delivery;
    const retired = record({ agents: ['web-1'] }, { status: 'retired' }, 'old');
    const followed = record({ agents: ['web-1'] }, {}, 'kept');
    const result = new Fleet(new ManualClock(at(HOUR))).tick([plain, retired, followed]);
    expect(Object.keys(result.status.certificates)).toEqual(['kept']);
    expect(result.events.map((e) => e.certificate)).toEqual(['kept']);
  });

  it('keeps the lag in the view and uses the configured one', () => {
    const result = evaluateFleet(
      [record({ probes: [{ host: '203.0.113.10', port: 443 }] })],
      { reports: new Map(), probes: new Map([[NAME, new Map([['203.0.113.10:443', served(OLD)]])]]) },
      undefined,
      at(10 * MINUTE),
      { ...DEFAULT_FLEET_RULES, lagMs: 5 * MINUTE },
    );
    expect(result.status.lagMinutes).toBe(5);
    expect(result.status.certificates[NAME]!.targets[0]!.health).toBe('behind');
  });
});

describe('evaluateFleet: changes of problem', () => {
  it('announces again when the problem changes kind (behind, then silent)', () => {
    const fleet = new Fleet(new ManualClock(at(HOUR)));
    const records = [record({ agents: ['web-1'] })];
    let tick = fleet.tick(records, [report('web-1', fleet.clock.now(), { [NAME]: deployment() })]);
    expect(tick.events.map((e) => e.target?.health)).toEqual(['behind']);

    fleet.clock.advance(HOUR);
    tick = fleet.tick(records, [report('web-1', fleet.clock.now(), { [NAME]: deployment() }, HOUR)]);
    expect(only(tick)).toMatchObject({ health: 'silent', alerting: true });
    expect(tick.events.map((e) => [e.type, e.target?.health])).toEqual([
      ['certificate.deployment_lagging', 'silent'],
    ]);

    fleet.clock.advance(HOUR);
    tick = fleet.tick(records, [report('web-1', fleet.clock.now(), { [NAME]: deployment() }, 2 * HOUR)]);
    expect(tick.events).toEqual([]);
  });

  it('does not call a behind target recovered when a newer renewal makes it updating again', () => {
    const fleet = new Fleet(new ManualClock(at(HOUR)));
    const agent = () => [report('web-1', fleet.clock.now(), { [NAME]: deployment() })];
    let tick = fleet.tick([record({ agents: ['web-1'] })], agent());
    expect(only(tick)).toMatchObject({ health: 'behind', alerting: true });

    // A newer serial is stored; the agent, still on OLD, is inside the new lag period.
    const newer = record(
      { agents: ['web-1'] },
      {
        current: { serial: '04CC03', notBefore: iso(HOUR), notAfter: iso(90 * 24 * HOUR), manifestKey: 'x' },
        lastSuccessAt: iso(90 * MINUTE),
      },
    );
    fleet.clock.set(at(100 * MINUTE));
    tick = fleet.tick([newer], agent());
    expect(only(tick)).toMatchObject({ health: 'updating', alerting: true });
    expect(tick.events).toEqual([]);

    fleet.clock.set(at(110 * MINUTE));
    tick = fleet.tick(
      [newer],
      [report('web-1', fleet.clock.now(), { [NAME]: deployment({ installedSerial: '04CC03' }) })],
    );
    expect(only(tick)).toMatchObject({ health: 'ok', alerting: false });
    expect(tick.events.map((e) => e.type)).toEqual(['certificate.deployment_recovered']);
  });

  it('follows each target on its own: one behind, one fine', () => {
    const fleet = new Fleet(new ManualClock(at(HOUR)));
    const now = fleet.clock.now();
    const tick = fleet.tick(
      [record({ agents: ['web-1', 'web-2'] })],
      [
        report('web-1', now, { [NAME]: deployment({ installedSerial: NEW }) }),
        report('web-2', now, { [NAME]: deployment() }),
      ],
    );
    expect(tick.status.certificates[NAME]!.targets.map((t) => [t.id, t.health])).toEqual([
      ['web-1', 'ok'],
      ['web-2', 'behind'],
    ]);
    expect(tick.events.map((e) => e.target?.id)).toEqual(['web-2']);
  });
});
