import type { CertificateStatus, ExpiryAlert } from './state.js';

/** Events published for downstream reloaders and alerting. Never carries key material. */
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
export type EventType = (typeof EVENT_TYPES)[number];

export interface CertificateEvent {
  type: EventType;
  /** Certificate name (the inventory key). */
  certificate: string;
  identifiers: string[];
  serial?: string;
  notAfter?: string;
  bucket?: string;
  manifestKey?: string;
  /** The certificate's status after the change (`failing` after repeated failures). */
  status?: CertificateStatus;
  /** Consecutive attempt count, for renewal_failed. */
  attempt?: number;
  /** When the next attempt is scheduled, for renewal_failed. */
  nextAttemptAt?: string;
  /** Which expiry warning, for expiring: 1/3 of the lifetime left, or under a day. */
  warning?: ExpiryAlert;
  error?: { type?: string; detail: string };
  /** For deployment events: the target and what it has. `serial` is the current serial. */
  target?: DeploymentTarget;
  at: string;
}

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

export interface DeploymentTarget {
  kind: TargetKind;
  /** Agent name, "host:port[/sni]", or ACM region. */
  id: string;
  health: TargetHealth;
  /** What it installed (agents) or holds (ACM). */
  installedSerial?: string;
  /** What it serves (probes, and agents with a TLS check). */
  servedSerial?: string;
  /** When the current serial was stored; the target has been behind since then. */
  behindSince?: string;
  lastReportAt?: string;
  /** The agent's last error, the probe's failure or the import's, for people. */
  error?: string;
}
