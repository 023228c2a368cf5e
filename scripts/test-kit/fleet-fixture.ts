/**
 * A made-up fleet of any size for the dashboard's bench and tests: a local-mode directory
 * (`certkeeper dashboard --out DIR` reads it through the same code as a real one) with N
 * certificates in its inventory and a fleet view (fleet/status.json) with one agent per
 * certificate, in every state the page shows: issued, due, failing, expiring, pending,
 * retired; agents ok, updating, behind and silent. Deterministic for a given seed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DAY, HOUR, MINUTE } from '../../shared/model/clock.js';
import type { FleetStatus, TargetStatus } from '../../shared/fleet/status.js';
import { FLEET_STATUS_KEY } from '../../shared/fleet/status.js';
import type { CertificateSpec } from '../../shared/model/spec.js';
import type { CertificateState } from '../../shared/model/state.js';
import { toStoredSpec, toStoredState } from '../../shared/inventory/record.js';

export interface FleetFixtureOptions {
  certificates: number;
  now?: Date;
  seed?: number;
}

export interface FleetFixture {
  dir: string;
  names: string[];
  agents: string[];
}

const CAS = ['letsencrypt', 'zerossl', 'google'];

/** Writes the fixture into `dir` (created); returns its certificate and agent names. */
export function writeFleetFixture(dir: string, options: FleetFixtureOptions): FleetFixture {
  const now = options.now ?? new Date();
  const t = now.getTime();
  const random = mulberry32(options.seed ?? 1);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const iso = (ms: number) => new Date(ms).toISOString();
  const serial = () =>
    Array.from({ length: 18 }, () => Math.floor(random() * 16).toString(16))
      .join('')
      .toUpperCase();
  mkdirSync(join(dir, 'inventory'), { recursive: true });
  mkdirSync(join(dir, 'fleet'), { recursive: true });
  const view: FleetStatus = { version: 1, at: iso(t - 2 * MINUTE), lagMinutes: 30, certificates: {} };
  const names: string[] = [];
  const agents: string[] = [];
  const width = String(options.certificates).length;
  for (let i = 0; i < options.certificates; i++) {
    const n = String(i + 1).padStart(width, '0');
    const name = `cert-${n}`;
    const agent = `web-${n}`;
    names.push(name);
    agents.push(agent);
    const short = random() < 0.3;
    const lifetime = short ? 160 * HOUR : 90 * DAY;
    const roll = random();
    const kind =
      roll < 0.02
        ? 'pending'
        : roll < 0.04
          ? 'retired'
          : roll < 0.09
            ? 'failing'
            : roll < 0.12
              ? 'expiring'
              : roll < 0.2
                ? 'due'
                : 'issued';
    // How far into its lifetime the certificate is, by what it should look like.
    const into = kind === 'expiring' ? 0.97 : kind === 'due' ? 0.7 + random() * 0.2 : random() * 0.6;
    const notBefore = t - lifetime * into;
    const ca = pick(CAS);
    const current =
      kind === 'pending'
        ? undefined
        : {
            serial: serial(),
            notBefore: iso(notBefore),
            notAfter: iso(notBefore + lifetime),
            manifestKey: `certificates/${name}/current.json`,
            certId: `id-${n}`,
            ca,
          };
    const spec: CertificateSpec = {
      name,
      identifiers: [{ type: 'dns', value: `${name}.fleet.example` }],
      challenge: 'dns-01',
      profile: short ? 'shortlived' : undefined,
      keyType: 'ecdsa-p256',
      hostedZoneId: undefined,
      renewBefore: undefined,
      renewBeforePercentage: undefined,
      delivery: { agents: [agent], probes: [], acmRegions: [] },
    };
    const state: CertificateState = {
      status:
        kind === 'retired'
          ? 'retired'
          : kind === 'pending'
            ? 'pending'
            : kind === 'failing' && random() < 0.5
              ? 'failing'
              : 'valid',
      current,
      attempts: kind === 'failing' ? 1 + Math.floor(random() * 4) : 0,
      ...(kind === 'failing'
        ? {
            lastError: {
              code: 'acme-problem',
              type: 'urn:ietf:params:acme:error:connection',
              detail: `ACME connection: http-01 for ${name}.fleet.example failed: connection refused`,
              ca,
              at: iso(t - random() * HOUR),
            },
            nextAttemptAt: iso(t + random() * HOUR),
          }
        : {}),
      ...(current && !short && random() < 0.5
        ? {
            ari: {
              certId: current.certId,
              windowStart: iso(notBefore + lifetime * 0.62),
              windowEnd: iso(notBefore + lifetime * 0.66),
              selectedAt: iso(notBefore + lifetime * 0.64),
              lastPolledAt: iso(t - HOUR),
              nextPollAt: iso(t + 5 * HOUR),
            },
          }
        : {}),
      lastSuccessAt: current ? iso(notBefore + MINUTE) : undefined,
      dueAt: kind === 'retired' ? undefined : iso(t + HOUR),
      updatedAt: iso(t - HOUR),
    };
    writeFileSync(
      join(dir, 'inventory', `${name}.json`),
      `${JSON.stringify({ spec: toStoredSpec(spec), state: toStoredState(state) })}\n`,
    );
    if (kind === 'retired') continue;
    const healthRoll = random();
    const old = serial();
    const target: TargetStatus =
      !current || healthRoll < 0.8
        ? {
            kind: 'agent',
            id: agent,
            health: current ? 'ok' : 'updating',
            installedSerial: current?.serial,
            servedSerial: current?.serial,
            lastReportAt: iso(t - random() * 10 * MINUTE),
            since: iso(notBefore + 5 * MINUTE),
            alerting: false,
          }
        : healthRoll < 0.9
          ? {
              kind: 'agent',
              id: agent,
              health: 'behind',
              installedSerial: old,
              servedSerial: old,
              behindSince: current.notBefore,
              lastReportAt: iso(t - random() * 10 * MINUTE),
              error: 'rolled back to the previous files: nginx: [emerg] cannot load certificate',
              since: iso(t - HOUR),
              alerting: true,
            }
          : {
              kind: 'agent',
              id: agent,
              health: 'silent',
              installedSerial: old,
              lastReportAt: iso(t - 5 * HOUR),
              error: 'no report for 300 min',
              since: iso(t - 4 * HOUR),
              alerting: true,
            };
    view.certificates[name] = {
      serial: current?.serial,
      storedAt: current ? iso(notBefore + MINUTE) : undefined,
      notAfter: current?.notAfter,
      targets: [target],
    };
  }
  writeFileSync(join(dir, ...FLEET_STATUS_KEY.split('/')), `${JSON.stringify(view)}\n`);
  return { dir, names, agents };
}

/** A small seeded generator: the same fixture every run (and bench:fleet's same draws). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
