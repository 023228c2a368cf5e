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
  /** Consecutive attempt count, for renewal_failed. */
  attempt?: number;
  error?: { type?: string; detail: string };
  at: string;
}
