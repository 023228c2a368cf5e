/**
 * The fleet snapshot: ONE JSON document with every certificate, every delivery target, every
 * agent and the recent events, made from what `certkeeper status` reads (the inventory and
 * the fleet view the last tick saved). `certkeeper status --json` prints it, and the
 * dashboard's page polls it (`GET /api/snapshot`), so the two cannot disagree.
 *
 * The schema is the contract: the builder's output is checked against it in tests, and the
 * page imports its types (types only: the page bundle holds no zod). Fields of the first
 * `status --json` (`at`, `lagMinutes`, `summary`, and per certificate the `list` summary
 * plus `targets`) keep their names and meaning; everything else was added beside them.
 *
 * Only zod and the enumerations here: the page's type-check includes this file.
 */
import * as z from 'zod';
import { TARGET_HEALTH, TARGET_KINDS } from '../../shared/model/event.js';
import { CERTIFICATE_STATUSES } from '../../shared/model/status.js';

const time = z.iso.datetime({ offset: true });
const minutes = z.number().int().nonnegative();

/**
 * A certificate's state as a person reads it, one word, worst first: `expired` past
 * notAfter; `expiring` under a day left or past the emergency renewal time (1/20 of the
 * lifetime left); `failing` with failed attempts on record; `due` past its renewal time;
 * `issued` in place and not yet due; `pending` declared and never issued; `retired`.
 */
export const CERTIFICATE_VIEW_STATES = [
  'expired',
  'expiring',
  'failing',
  'due',
  'issued',
  'pending',
  'retired',
] as const;
export type CertificateViewState = (typeof CERTIFICATE_VIEW_STATES)[number];

/**
 * Where an agent comes from and where it stands: `configured` is named by a certificate's
 * `delivery.agents` in the deployment config (the agents of today); `pending`, `active` and
 * `removed` are the agent registry's (an enrolment token not yet used, an enrolled agent,
 * one cut off).
 */
export const AGENT_STATUSES = ['configured', 'pending', 'active', 'removed'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

/** What the event list shows, derived from the state (see events.ts for how each is read). */
export const EVENT_KINDS = ['issued', 'failed', 'lagging'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** One delivery target of one certificate: the fleet view's own fields, and what it lacks. */
export const targetRowSchema = z.object({
  certificate: z.string(),
  kind: z.enum(TARGET_KINDS),
  /** Agent name, "host:port[/sni]", or ACM region. */
  id: z.string(),
  health: z.enum(TARGET_HEALTH),
  installedSerial: z.string().optional(),
  servedSerial: z.string().optional(),
  behindSince: time.optional(),
  lastReportAt: time.optional(),
  /** The agent's last error, the probe's failure or the import's: attacker-influenced text. */
  error: z.string().optional(),
  notAfter: time.optional(),
  /** When the health last changed. */
  since: time,
  alerting: z.boolean(),
  /** The serial the certificate has now. */
  currentSerial: z.string().nullable(),
  /**
   * Since when the target has been without the current serial: when that serial was stored,
   * for a silent target too (what it last reported is not the current one); null when it
   * has it or there is none yet.
   */
  lacksCurrentSince: time.nullable(),
  /** Minutes without the current serial when the view was made (from lacksCurrentSince). */
  behindMinutes: minutes.nullable(),
  /** Minutes since the agent's last report, at the snapshot's time. */
  reportAgeMinutes: minutes.nullable(),
});
export type TargetRow = z.infer<typeof targetRowSchema>;

export const lastProblemSchema = z.object({
  code: z.string(),
  /** The RFC 8555 §6.7 problem type URN, when the CA returned one. */
  type: z.string().nullable(),
  detail: z.string(),
  ca: z.string().nullable(),
  at: time,
  /** What to do about it (problem-fix.ts): the stored error keeps no fix of its own. */
  fix: z.string(),
});
export type LastProblem = z.infer<typeof lastProblemSchema>;

export const certificateEntrySchema = z.object({
  // The `list` summary (cli/summary.ts), unchanged.
  name: z.string(),
  identifiers: z.array(z.string()),
  profile: z.string().nullable(),
  challenge: z.string(),
  status: z.enum(CERTIFICATE_STATUSES),
  serial: z.string().nullable(),
  notAfter: time.nullable(),
  ca: z.string().nullable(),
  renewalAt: time.nullable(),
  dueAt: time.nullable(),
  attempts: z.number().int().nonnegative(),
  needsAttention: z.boolean(),
  targets: z.array(targetRowSchema),
  // Added for the dashboard.
  state: z.enum(CERTIFICATE_VIEW_STATES),
  keyType: z.string(),
  notBefore: time.nullable(),
  /** `labels` of the spec (e.g. {"role":"edge"}); {} when it has none. */
  labels: z.record(z.string(), z.string()),
  /** Whose renewal time renewalAt is: the CA's ARI window (RFC 9773 §4.2) or the policy. */
  renewalBy: z.enum(['ari', 'policy']).nullable(),
  /** The CA's suggested window for the current certificate, once polled. */
  ari: z
    .object({
      windowStart: time,
      windowEnd: time,
      selectedAt: time.nullable(),
      explanationURL: z.string().nullable(),
    })
    .nullable(),
  lastError: lastProblemSchema.nullable(),
  nextAttemptAt: time.nullable(),
  /** The targets the spec declares (the fleet view may not have seen them yet). */
  delivery: z
    .object({ agents: z.array(z.string()), probes: z.array(z.string()), acmRegions: z.array(z.string()) })
    .nullable(),
});
export type CertificateEntry = z.infer<typeof certificateEntrySchema>;

/** One certificate an agent receives, and what it has of it. */
export const agentCertificateSchema = z.object({
  certificate: z.string(),
  health: z.enum(TARGET_HEALTH).nullable(),
  installedSerial: z.string().nullable(),
  servedSerial: z.string().nullable(),
  currentSerial: z.string().nullable(),
  lacksCurrentSince: time.nullable(),
  error: z.string().nullable(),
});

export const agentEntrySchema = z.object({
  name: z.string(),
  status: z.enum(AGENT_STATUSES),
  /** What it receives: certificates by name and (registry agents) by label. */
  selector: z.object({
    certificates: z.array(z.string()),
    labels: z.record(z.string(), z.string()).nullable(),
  }),
  /** Its client certificate (registry agents); null for configured agents. */
  identity: z.object({ serial: z.string(), notAfter: time }).nullable(),
  lastReportAt: time.nullable(),
  reportAgeMinutes: minutes.nullable(),
  /** The first error among its certificates (each keeps its own below). */
  lastError: z.string().nullable(),
  certificates: z.array(agentCertificateSchema),
});
export type AgentEntry = z.infer<typeof agentEntrySchema>;

export const fleetEventSchema = z.object({
  type: z.enum(EVENT_KINDS),
  at: time,
  certificate: z.string(),
  target: z.object({ kind: z.enum(TARGET_KINDS), id: z.string() }).nullable(),
  serial: z.string().nullable(),
  detail: z.string(),
});
export type FleetEvent = z.infer<typeof fleetEventSchema>;

export const SOURCE_KINDS = ['stack', 'local', 'fixture'] as const;

export const fleetSnapshotSchema = z.object({
  version: z.literal(1),
  /** When this document was made: the reference time of every age in it. */
  generatedAt: time,
  /** What it was read from: the stack's bucket and table, or the local directory. */
  source: z.object({ kind: z.enum(SOURCE_KINDS), location: z.string() }),
  /** The fleet view's time (its last tick), and its lag period; null before the first tick. */
  at: time.nullable(),
  lagMinutes: z.number().int().positive().nullable(),
  summary: z.object({
    targets: minutes,
    ok: minutes,
    updating: minutes,
    behind: minutes,
    silent: minutes,
    unreachable: minutes,
    expiring: minutes,
  }),
  certificates: z.array(certificateEntrySchema),
  agents: z.array(agentEntrySchema),
  /** The most recent first, at most RECENT_EVENTS. */
  events: z.array(fleetEventSchema),
});
export type FleetSnapshot = z.infer<typeof fleetSnapshotSchema>;

/** What the page gets instead of a snapshot when the source cannot be read. */
export const snapshotProblemSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), fix: z.string().nullable() }),
  source: z.object({ kind: z.enum(SOURCE_KINDS), location: z.string() }),
  at: time,
});
export type SnapshotProblem = z.infer<typeof snapshotProblemSchema>;

/** One certificate's history, for its detail view (`GET /api/certificates/<name>`). */
export const certificateHistorySchema = z.object({
  name: z.string(),
  /** Stored serials, oldest first; the first was issued, the later ones renewed it. */
  serials: z.array(z.object({ serial: z.string(), current: z.boolean() })),
  /** The current manifest's facts (never its file keys). */
  manifest: z
    .object({
      serial: z.string(),
      issuedAt: time,
      notBefore: time,
      notAfter: time,
      ca: z.string().nullable(),
      keyType: z.string(),
      profile: z.string().nullable(),
      identifiers: z.array(z.string()),
    })
    .nullable(),
  /** Why the history could not be read, when it could not. */
  error: z.string().nullable(),
});
export type CertificateHistory = z.infer<typeof certificateHistorySchema>;
