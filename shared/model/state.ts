import type { CertificateSpec } from './spec.js';

/**
 * What certkeeper knows about one certificate's life, kept in the inventory next to its
 * spec. Times are ISO-8601 strings so the same shape serialises to DynamoDB, files and JSON.
 */
export type CertificateStatus =
  | 'pending' // declared, never issued
  | 'valid' // a certificate is in place and not yet due
  | 'failing' // repeated renewal failures; attempts go on
  | 'expired' // the current certificate has lapsed
  | 'retired'; // removed from the config; files kept

export interface CurrentCertificate {
  serial: string;
  notBefore: string;
  notAfter: string;
  manifestKey: string;
  /** RFC 9773 certID of this certificate, for ARI polls and `replaces`. */
  certId?: string;
  profile?: string;
}

export interface LastError {
  code: string;
  /** ACME problem type URN when the CA returned one. */
  type?: string;
  detail: string;
  at: string;
}

export interface CertificateState {
  status: CertificateStatus;
  current?: CurrentCertificate;
  /** Consecutive failed attempts; reset on success or spec change. */
  attempts: number;
  lastError?: LastError;
  /** Earliest time the next attempt may start (backoff or Retry-After). */
  nextAttemptAt?: string;
  lastSuccessAt?: string;
  /** The ACME order in flight, so an interrupted attempt can resume it. */
  orderUrl?: string;
  updatedAt: string;
}

export const initialState = (now: Date): CertificateState => ({
  status: 'pending',
  attempts: 0,
  updatedAt: now.toISOString(),
});

/** One certificate in the inventory: the declared spec and the observed state. */
export interface InventoryRecord {
  spec: CertificateSpec;
  state: CertificateState;
}
