import type { CertificateStatus, ExpiryAlert } from './state.js';

/** Events published for downstream reloaders and alerting. Never carries key material. */
export const EVENT_TYPES = [
  'certificate.issued',
  'certificate.renewed',
  'certificate.renewal_failed',
  'certificate.expiring',
  'certificate.revoked',
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
  at: string;
}
