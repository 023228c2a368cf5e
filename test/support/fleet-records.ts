/**
 * Builders for the fleet tests: inventory records with delivery targets, agent reports and
 * probe results, on a fixed timeline. Serials are short hex strings; nothing here is a key.
 */
import { HOUR, MINUTE } from '../../shared/model/clock.js';
import type { DeliverySpec } from '../../shared/model/delivery.js';
import { parseCertificateSpec } from '../../shared/model/spec.js';
import type { AcmDeliveryState, CertificateState, InventoryRecord } from '../../shared/model/state.js';
import type { AgentReport, CertificateDeployment } from '../../shared/fleet/report.js';

/** When the current certificate (NEW) was stored; OLD is the one it replaced. */
export const STORED = new Date('2026-11-20T12:00:00Z');
export const OLD = '04AA01';
export const NEW = '04BB02';
export const NAME = 'web';
export const IDENTIFIERS = ['www.example.com'];

export const at = (ms: number): Date => new Date(STORED.getTime() + ms);
export const iso = (ms: number): string => at(ms).toISOString();

export function record(
  delivery: Partial<DeliverySpec>,
  state: Partial<CertificateState> = {},
  name = NAME,
): InventoryRecord {
  const spec = parseCertificateSpec({ name, identifiers: IDENTIFIERS });
  spec.delivery = { agents: [], probes: [], acmRegions: [], ...delivery };
  return {
    spec,
    state: {
      status: 'valid',
      attempts: 0,
      current: {
        serial: NEW,
        notBefore: iso(-HOUR),
        notAfter: iso(89 * 24 * HOUR),
        manifestKey: `certificates/${name}/current.json`,
      },
      lastSuccessAt: STORED.toISOString(),
      updatedAt: STORED.toISOString(),
      ...state,
    },
  };
}

export function deployment(extra: Partial<CertificateDeployment> = {}): CertificateDeployment {
  return {
    installedSerial: OLD,
    installedNotAfter: iso(60 * 24 * HOUR),
    lastAction: 'unchanged',
    checkedAt: STORED.toISOString(),
    ...extra,
  };
}

/** A report written `ageMs` before `now`, by an agent polling every 5 minutes. */
export function report(
  agent: string,
  now: Date,
  certificates: Record<string, CertificateDeployment>,
  ageMs = MINUTE,
): AgentReport {
  return {
    version: 1,
    agent,
    host: `${agent}.internal`,
    agentVersion: '0.1.0',
    at: new Date(now.getTime() - ageMs).toISOString(),
    pollIntervalSeconds: 300,
    certificates,
  };
}

export const acm = (extra: Partial<AcmDeliveryState>): AcmDeliveryState => ({
  attemptedAt: STORED.toISOString(),
  ...extra,
});
