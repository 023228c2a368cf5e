import * as z from 'zod';
import { certificateStatusSchema, expiryAlertSchema } from './status.js';

/**
 * The certificate event: what the issuer and the fleet tick publish (shared/events/sns.ts),
 * what the notifier formats and what the agent's queue receives. Never carries key
 * material. The schema is the type, and it is what every reader validates against.
 */
export const EVENT_TYPES = [
  'certificate.issued',
  'certificate.renewed',
  'certificate.renewal_failed',
  'certificate.expiring',
  'certificate.revoked',
  // The fleet view: a delivery target (agent, probed endpoint, ACM region) fell behind or
  // went quiet, and came back. Published once per change, never on every tick.
  'certificate.deployment_lagging',
  'certificate.deployment_recovered',
] as const;
export const eventTypeSchema = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof eventTypeSchema>;

export const TARGET_KINDS = ['agent', 'probe', 'acm'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/**
 * ok: has the current serial. updating: on an older serial, still inside the lag period.
 * behind: on an older serial past it. silent: an agent that has not reported for three
 * poll intervals (or never). unreachable: a probe that could not read a certificate.
 * wrong-certificate: the endpoint serves a certificate that is not this one. failed: an
 * ACM import failed. expiring: what it serves has under 24 hours left.
 */
export const TARGET_HEALTH = [
  'ok',
  'updating',
  'behind',
  'silent',
  'unreachable',
  'wrong-certificate',
  'failed',
  'expiring',
] as const;
export type TargetHealth = (typeof TARGET_HEALTH)[number];

export const deploymentTargetSchema = z.object({
  kind: z.enum(TARGET_KINDS),
  /** Agent name, "host:port[/sni]", or ACM region. */
  id: z.string().min(1),
  health: z.enum(TARGET_HEALTH),
  /** What it installed (agents) or holds (ACM). */
  installedSerial: z.string().optional(),
  /** What it serves (probes, and agents with a TLS check). */
  servedSerial: z.string().optional(),
  /** When the current serial was stored; the target has been behind since then. */
  behindSince: z.string().optional(),
  lastReportAt: z.string().optional(),
  /** The agent's last error, the probe's failure or the import's, for people. */
  error: z.string().optional(),
});
export type DeploymentTarget = z.infer<typeof deploymentTargetSchema>;

// Readers drop keys they do not know, so a newer publisher's field does not make an older
// agent or notifier refuse the event.
export const certificateEventSchema = z.object({
  type: eventTypeSchema,
  /** Certificate name (the inventory key). */
  certificate: z.string().min(1),
  identifiers: z.array(z.string()),
  serial: z.string().optional(),
  notAfter: z.iso.datetime({ offset: true }).optional(),
  bucket: z.string().optional(),
  manifestKey: z.string().optional(),
  /** The certificate's status after the change (`failing` after repeated failures). */
  status: certificateStatusSchema.optional(),
  /** Consecutive attempt count, for renewal_failed. */
  attempt: z.number().int().nonnegative().optional(),
  /** When the next attempt is scheduled, for renewal_failed. */
  nextAttemptAt: z.iso.datetime({ offset: true }).optional(),
  /** Which expiry warning, for expiring: 1/3 of the lifetime left, or under a day. */
  warning: expiryAlertSchema.optional(),
  error: z.object({ type: z.string().optional(), detail: z.string() }).optional(),
  /** The CA that issued the certificate, or (renewal_failed) the one the attempt went to. */
  ca: z.string().optional(),
  /** For deployment events: the target and what it has. `serial` is the current serial. */
  target: deploymentTargetSchema.optional(),
  at: z.string(),
});
export type CertificateEvent = z.infer<typeof certificateEventSchema>;
