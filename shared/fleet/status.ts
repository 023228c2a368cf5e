import * as z from 'zod';
import { deploymentTargetSchema, type TargetHealth } from '../model/event.js';

/**
 * The fleet view as the last tick left it (`fleet/status.json`): per certificate, every
 * delivery target and what it has. The next tick compares against it, so a change of a
 * target's health is announced once, never on every tick.
 */
export const FLEET_STATUS_KEY = 'fleet/status.json';

const time = z.iso.datetime({ offset: true });

// The event's target, as the fleet view keeps it: times checked, and what the next tick needs.
const targetStatus = deploymentTargetSchema.extend({
  /** What the target has expires then (served, else installed). */
  notAfter: time.optional(),
  behindSince: time.optional(),
  lastReportAt: time.optional(),
  /** When the health last changed. */
  since: time,
  /** A lagging event went out and no recovered event yet. */
  alerting: z.boolean(),
});

const certificateFleet = z.object({
  /** The current serial, and when it was stored; absent before the first issuance. */
  serial: z.string().optional(),
  storedAt: time.optional(),
  notAfter: time.optional(),
  targets: z.array(targetStatus),
});

/** A registry agent as the fleet view lists it (removed ones too, so people see they are cut off). */
const agentFleet = z.object({
  status: z.enum(['pending', 'active', 'removed']),
  source: z.enum(['config', 'cli']),
  selector: z.object({ certificates: z.array(z.string()), labels: z.record(z.string(), z.string()) }),
  identityNotAfter: time.optional(),
  removedAt: time.optional(),
  lastReportAt: time.optional(),
  host: z.string().optional(),
});

export const fleetStatusSchema = z.object({
  version: z.literal(1),
  at: time,
  lagMinutes: z.number().int().positive(),
  certificates: z.record(z.string(), certificateFleet),
  /** Registry agents (absent in views written before the registry). */
  agents: z.record(z.string(), agentFleet).optional(),
});

export type TargetStatus = z.infer<typeof targetStatus>;
export type CertificateFleet = z.infer<typeof certificateFleet>;
export type FleetStatus = z.infer<typeof fleetStatusSchema>;
export type AgentFleet = z.infer<typeof agentFleet>;

/** Health that someone should hear about; `updating` is a target inside the lag period. */
export const isProblem = (health: TargetHealth): boolean => health !== 'ok' && health !== 'updating';

/** Counts for metrics, the CLI's summary and its exit code. */
export interface FleetSummary {
  targets: number;
  ok: number;
  updating: number;
  /** Behind, serving another certificate, or an ACM import that failed. */
  behind: number;
  silent: number;
  unreachable: number;
  expiring: number;
}

export function summarizeFleet(status: FleetStatus | undefined): FleetSummary {
  const sum: FleetSummary = {
    targets: 0,
    ok: 0,
    updating: 0,
    behind: 0,
    silent: 0,
    unreachable: 0,
    expiring: 0,
  };
  for (const c of Object.values(status?.certificates ?? {})) {
    for (const t of c.targets) {
      sum.targets++;
      if (t.health === 'ok') sum.ok++;
      else if (t.health === 'updating') sum.updating++;
      else if (t.health === 'silent') sum.silent++;
      else if (t.health === 'unreachable') sum.unreachable++;
      else if (t.health === 'expiring') sum.expiring++;
      else sum.behind++;
    }
  }
  return sum;
}
