import * as z from 'zod';
import { certificateEventSchema } from './event.js';
import type { CertificateSpec } from './spec.js';
import { certificateStatusSchema, expiryAlertSchema } from './status.js';

export {
  CERTIFICATE_STATUSES,
  type CertificateStatus,
  certificateStatusSchema,
  EXPIRY_ALERTS,
  type ExpiryAlert,
  expiryAlertSchema,
} from './status.js';

/**
 * What certkeeper knows about one certificate's life, kept in the inventory next to its
 * spec. Times are ISO-8601 strings so the same shape serialises to DynamoDB, files and JSON.
 *
 * The schemas are the model: the types are inferred from them, and the inventory adapters
 * validate what they read back with the same schemas. They check the stored shape, and stay
 * tolerant the way stored records need: unknown keys are dropped rather than refused (a
 * newer writer's field must not make an older reader call the record corrupted), and every
 * field added after the first release is optional.
 */
const time = z.iso.datetime({ offset: true });
const text = z.string().min(1);

export const currentCertificateSchema = z.object({
  serial: text,
  notBefore: time,
  notAfter: time,
  manifestKey: text,
  /** RFC 9773 certID of this certificate, for ARI polls and `replaces`. */
  certId: text.optional(),
  profile: text.optional(),
  /** The CA that issued it (config `cas[].name`): ARI, `replaces` and revocation go there. */
  ca: text.optional(),
});
export type CurrentCertificate = z.infer<typeof currentCertificateSchema>;

export const lastErrorSchema = z.object({
  code: z.string(),
  /** ACME problem type URN when the CA returned one. */
  type: z.string().optional(),
  detail: z.string(),
  /** The CA the failed attempt went to. */
  ca: text.optional(),
  at: time,
});
export type LastError = z.infer<typeof lastErrorSchema>;

/** RFC 9773 renewal information for the current certificate, as last polled. */
export const ariStateSchema = z.object({
  /** The certID the window belongs to; a new certificate starts afresh. */
  certId: text,
  /** The suggested window; absent until a poll succeeds for this certID. */
  windowStart: time.optional(),
  windowEnd: time.optional(),
  /**
   * The renewal time picked uniformly at random inside the window (RFC 9773 §4.2), kept
   * for as long as the CA suggests the same window so polls do not reshuffle it.
   */
  selectedAt: time.optional(),
  explanationURL: text.optional(),
  lastPolledAt: time,
  /** Next poll: Retry-After clamped to [1 min, 24 h], or about 6 h after an error. */
  nextPollAt: time,
  /** Why the last poll failed; the previous window (if any) stays in force. */
  lastError: z.string().optional(),
});
export type AriState = z.infer<typeof ariStateSchema>;

/** One ACM region the certificate is imported into (re-imported into the same ARN on renewal). */
export const acmDeliveryStateSchema = z.object({
  /** The ACM certificate; absent until the first import succeeded. */
  arn: text.optional(),
  /** The serial ACM holds now. */
  serial: text.optional(),
  /** Its key type: ACM re-imports only the same key type and size into an ARN. */
  keyType: text.optional(),
  importedAt: time.optional(),
  /** The last import's failure, for people; cleared on success. */
  error: z.string().optional(),
  attemptedAt: time,
  /** Consecutive failed imports into this region (backoff); absent after a success. */
  failures: z.number().int().min(1).optional(),
  /** After a failure: when the issuer may try this region again (it is due then). */
  retryAt: time.optional(),
});
export type AcmDeliveryState = z.infer<typeof acmDeliveryStateSchema>;

export const certificateStateSchema = z.object({
  status: certificateStatusSchema,
  current: currentCertificateSchema.optional(),
  ari: ariStateSchema.optional(),
  /** Expiry warnings already published for the serial named here. */
  alertsSent: z.object({ serial: text, kinds: z.array(expiryAlertSchema) }).optional(),
  /** The spec changed since the current certificate was issued: reissue now. */
  reissue: z.boolean().optional(),
  /**
   * The earliest time anything is due (renewal, retry, ARI poll, expiry warning); the
   * scheduler's due index is keyed on it. Absent for retired certificates.
   */
  dueAt: time.optional(),
  /** Consecutive failed attempts; reset on success or spec change. */
  attempts: z.number().int().nonnegative(),
  lastError: lastErrorSchema.optional(),
  /** Earliest time the next attempt may start (backoff or Retry-After). */
  nextAttemptAt: time.optional(),
  lastSuccessAt: time.optional(),
  /** The ACME order in flight, so an interrupted attempt can resume it (at caAttempt's CA). */
  orderUrl: text.optional(),
  /**
   * The CA this renewal is being tried at and how many of its failures there were the CA's
   * own (authorities/choice.ts); absent: the preferred CA, nothing failed. Cleared on success.
   */
  caAttempt: z.object({ name: text, failures: z.number().int().nonnegative() }).optional(),
  /**
   * Events recorded with the state they announce and not yet published (the outbox): a
   * publish that fails, or a crash between the state write and the publish, leaves them
   * here, and the next pass publishes them before anything else.
   */
  outbox: z.array(certificateEventSchema).optional(),
  /**
   * Ids of the last forced renewals handled (renewal/forced.ts): a duplicate delivery or a
   * replay of one does not order again.
   */
  forced: z.array(text).optional(),
  /** ACM imports by region, for certificates that declare `acmRegions`. */
  acm: z.record(z.string(), acmDeliveryStateSchema).optional(),
  updatedAt: time,
});
export type CertificateState = z.infer<typeof certificateStateSchema>;

/** A newly declared certificate is due at once. */
export const initialState = (now: Date): CertificateState => ({
  status: 'pending',
  attempts: 0,
  dueAt: now.toISOString(),
  updatedAt: now.toISOString(),
});

/**
 * One certificate in the inventory: the declared spec and the observed state. The spec's
 * stored shape is checked by the inventory's read schema (shared/inventory/record.ts), which
 * also ties it to the item's name.
 */
export interface InventoryRecord {
  spec: CertificateSpec;
  state: CertificateState;
}
