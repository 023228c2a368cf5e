import type { CertificateEvent } from './events.js';
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

/** RFC 9773 renewal information for the current certificate, as last polled. */
export interface AriState {
  /** The certID the window belongs to; a new certificate starts afresh. */
  certId: string;
  /** The suggested window; absent until a poll succeeds for this certID. */
  windowStart?: string;
  windowEnd?: string;
  /**
   * The renewal time picked uniformly at random inside the window (RFC 9773 §4.2), kept
   * for as long as the CA suggests the same window so polls do not reshuffle it.
   */
  selectedAt?: string;
  explanationURL?: string;
  lastPolledAt: string;
  /** Next poll: Retry-After clamped to [1 min, 24 h], or about 6 h after an error. */
  nextPollAt: string;
  /** Why the last poll failed; the previous window (if any) stays in force. */
  lastError?: string;
}

/** Expiry warnings: at 1/3 of the lifetime left while renewal fails, and under 24 h left. */
export type ExpiryAlert = 'third' | 'day';

/** One ACM region the certificate is imported into (re-imported into the same ARN on renewal). */
export interface AcmDeliveryState {
  /** The ACM certificate; absent until the first import succeeded. */
  arn?: string;
  /** The serial ACM holds now. */
  serial?: string;
  /** Its key type: ACM re-imports only the same key type and size into an ARN. */
  keyType?: string;
  importedAt?: string;
  /** The last import's failure, for people; cleared on success. */
  error?: string;
  attemptedAt: string;
  /** Consecutive failed imports into this region (backoff); absent after a success. */
  failures?: number;
  /** After a failure: when the issuer may try this region again (it is due then). */
  retryAt?: string;
}

export interface CertificateState {
  status: CertificateStatus;
  current?: CurrentCertificate;
  ari?: AriState;
  /** Expiry warnings already published for the serial named here. */
  alertsSent?: { serial: string; kinds: ExpiryAlert[] };
  /** The spec changed since the current certificate was issued: reissue now. */
  reissue?: boolean;
  /**
   * The earliest time anything is due (renewal, retry, ARI poll, expiry warning); the
   * scheduler's due index is keyed on it. Absent for retired certificates.
   */
  dueAt?: string;
  /** Consecutive failed attempts; reset on success or spec change. */
  attempts: number;
  lastError?: LastError;
  /** Earliest time the next attempt may start (backoff or Retry-After). */
  nextAttemptAt?: string;
  lastSuccessAt?: string;
  /** The ACME order in flight, so an interrupted attempt can resume it. */
  orderUrl?: string;
  /**
   * Events recorded with the state they announce and not yet published (the outbox): a
   * publish that fails, or a crash between the state write and the publish, leaves them
   * here, and the next pass publishes them before anything else.
   */
  outbox?: CertificateEvent[];
  /** ACM imports by region, for certificates that declare `acmRegions`. */
  acm?: Record<string, AcmDeliveryState>;
  updatedAt: string;
}

/** A newly declared certificate is due at once. */
export const initialState = (now: Date): CertificateState => ({
  status: 'pending',
  attempts: 0,
  dueAt: now.toISOString(),
  updatedAt: now.toISOString(),
});

/** One certificate in the inventory: the declared spec and the observed state. */
export interface InventoryRecord {
  spec: CertificateSpec;
  state: CertificateState;
}
