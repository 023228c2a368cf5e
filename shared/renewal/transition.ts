import type { AriOutcome } from '../acme/ca.js';
import { AcmeProblemError, type CertkeeperError, RetryLaterError } from '../model/errors.js';
import type { CertificateEvent, EventType } from '../model/event.js';
import { identifierValues } from '../model/identifiers.js';
import type { CertificateSpec } from '../model/spec.js';
import type { CertificateState, CurrentCertificate, LastError } from '../model/state.js';
import { MINUTE } from '../model/clock.js';
import type { Random } from '../model/random.js';
import { expiryAlertDue, recordAlert } from './alerts.js';
import { applyRenewalInfo, ariPollFailed } from './ari.js';
import { FAILING_AFTER, nextRetryAt } from './backoff.js';
import { caAttemptAfterFailure } from '../authorities/choice.js';
import { computeDueAt } from './policy.js';

/**
 * The renewal as a state machine: pure functions from a certificate's state, the time and
 * the outcome of what the sequence did (an ARI answer, an issued certificate, an error) to
 * the next state and the events to publish. No I/O and no clock: the use case
 * (usecases/renew-certificate.ts) does the work and hands each outcome here, so every
 * transition is tested without an adapter (test/unit/renewal/transition.test.ts).
 */
export interface Transition {
  state: CertificateState;
  events: CertificateEvent[];
}

/** Where the transition happens: the certificate, the time, the bucket events name. */
export interface Context {
  spec: CertificateSpec;
  now: Date;
  /** The bucket named in events, so subscribers can fetch the manifest (absent locally). */
  bucket?: string;
  /** Jitter for backoff and the pick inside an ARI window. */
  random: Random;
}

/** A poll's answer, or its failure, recorded; a failed poll never blocks a renewal. */
export function afterAriPoll(ctx: Context, state: CertificateState, outcome: AriOutcome): CertificateState {
  const ari =
    'info' in outcome
      ? applyRenewalInfo(state.ari, outcome.certId, outcome.info, ctx.now, ctx.random)
      : ariPollFailed(state.ari, outcome.certId, outcome.error, ctx.now, ctx.random);
  return { ...state, ari };
}

/**
 * The order just created (RFC 8555 §7.4), to be recorded at once so an interrupted attempt
 * resumes it instead of placing a second order. Undefined when it is already recorded.
 */
export function withOrder(
  ctx: Context,
  state: CertificateState,
  orderUrl: string,
  ca: string,
): CertificateState | undefined {
  if (orderUrl === state.orderUrl && state.caAttempt?.name === ca) return undefined;
  // An order lives at one CA: recorded with it, so it is resumed only there.
  const caAttempt = state.caAttempt?.name === ca ? state.caAttempt : { name: ca, failures: 0 };
  return { ...state, orderUrl, caAttempt, updatedAt: ctx.now.toISOString() };
}

/** The certificate as stored (its manifest's facts). */
export type StoredCertificate = Omit<CurrentCertificate, 'profile'>;

/**
 * A certificate was issued and stored: it becomes current, failures (and the CA they moved
 * the renewal to) are forgotten, and the order is done. `issued` for the first certificate
 * of a name, `renewed` after that.
 */
export function afterIssued(ctx: Context, state: CertificateState, stored: StoredCertificate): Transition {
  const next: CertificateState = {
    status: 'valid',
    current: { ...stored, profile: ctx.spec.profile },
    attempts: 0,
    lastSuccessAt: ctx.now.toISOString(),
    // Where ACM stands (its ARNs) outlives the serial; the delivery step updates it next.
    ...(state.acm ? { acm: state.acm } : {}),
    updatedAt: ctx.now.toISOString(),
  };
  const type = state.current === undefined ? 'certificate.issued' : 'certificate.renewed';
  return { state: next, events: [certificateEvent(ctx, type, next)] };
}

/**
 * A failed attempt: backoff (or the CA's Retry-After, RFC 8555 §6.6, never slept through),
 * the error with its ACME problem type (§6.7), `failing` after FAILING_AFTER in a row. The
 * certificate in place is untouched. An event goes out when something changed for a person
 * reading it: the first failure, a different error, or the turn to `failing`; not on every
 * retry.
 */
export function afterFailure(
  ctx: Context,
  state: CertificateState,
  error: CertkeeperError,
  /** The CA the attempt went to; undefined when no CA could be chosen. */
  ca: string | undefined,
): Transition {
  const attempts = state.attempts + 1;
  const retryAt =
    error instanceof RetryLaterError
      ? error.delayMs !== undefined
        ? new Date(ctx.now.getTime() + error.delayMs)
        : error.retryAt
      : nextRetryAt(attempts, ctx.now, state.current && new Date(state.current.notAfter), ctx.random);
  const lastError: LastError = {
    code: error.code,
    type: problemType(error),
    detail: error.message,
    ...(ca ? { ca } : {}),
    at: ctx.now.toISOString(),
  };
  const next: CertificateState = {
    ...state,
    status: attempts >= FAILING_AFTER ? 'failing' : state.status,
    attempts,
    lastError,
    nextAttemptAt: retryAt.toISOString(),
    // A refused order cannot be resumed; keep the URL only while the CA asked us to wait.
    orderUrl: error instanceof RetryLaterError ? state.orderUrl : undefined,
    caAttempt: caAttemptAfterFailure(state, ca, error, ctx.now),
  };
  const changed =
    attempts === 1 ||
    errorSignature(state.lastError) !== errorSignature(lastError) ||
    (next.status === 'failing' && state.status !== 'failing');
  const event = certificateEvent(ctx, 'certificate.renewal_failed', next, {
    attempt: attempts,
    nextAttemptAt: next.nextAttemptAt,
    error: { type: lastError.type, detail: lastError.detail },
    ca,
  });
  return { state: next, events: changed ? [event] : [] };
}

/**
 * The end of every pass: an expiry warning when one is due (once per serial), `expired`
 * past notAfter, and the next time anything is due, for the scheduler's index.
 */
export function settle(ctx: Context, state: CertificateState): Transition {
  let next = state;
  const events: CertificateEvent[] = [];
  const warning = expiryAlertDue(next, ctx.now);
  if (warning) {
    next = recordAlert(next, warning);
    // Say why it has not renewed: the failure count and the CA's last answer.
    const why =
      next.attempts > 0 && next.lastError
        ? { attempt: next.attempts, error: { type: next.lastError.type, detail: next.lastError.detail } }
        : {};
    events.push(certificateEvent(ctx, 'certificate.expiring', next, { warning, ...why }));
  }
  if (next.current && new Date(next.current.notAfter) <= ctx.now && next.status === 'valid') {
    next = { ...next, status: 'expired' };
  }
  const dueAt = computeDueAt(ctx.spec, next, ctx.now)?.toISOString();
  return { state: { ...next, dueAt, updatedAt: ctx.now.toISOString() }, events };
}

/** A failed publish is tried again this soon (the scheduler's next tick), not at the next renewal. */
export const OUTBOX_RETRY_MS = MINUTE;

/**
 * The state as it is written with the events still to be published (the outbox). The
 * events ride in the same write as the state they announce, so neither exists without the
 * other; a crash before they go out leaves them for the next pass (the redelivered
 * message). No events: no outbox.
 */
export function withOutbox(state: CertificateState, events: CertificateEvent[]): CertificateState {
  const { outbox: _sent, ...rest } = state;
  return events.length === 0 ? rest : { ...rest, outbox: events };
}

/** Events the topic refused stay in the outbox, and the certificate is due again soon to send them. */
export function afterPublishFailed(
  ctx: Context,
  state: CertificateState,
  unsent: CertificateEvent[],
): CertificateState {
  const retryAt = ctx.now.getTime() + OUTBOX_RETRY_MS;
  const dueAt =
    state.dueAt && Date.parse(state.dueAt) <= retryAt ? state.dueAt : new Date(retryAt).toISOString();
  return { ...withOutbox(state, unsent), dueAt };
}

/**
 * The certificate in place was revoked (`serial`): it stays current until its replacement
 * is stored, and is reissued at the next tick whatever its renewal time. Undefined when
 * another certificate has become current meanwhile.
 */
export function afterRevocation(
  now: Date,
  state: CertificateState,
  serial: string,
): CertificateState | undefined {
  if (state.current?.serial !== serial) return undefined;
  return { ...state, reissue: true, dueAt: now.toISOString(), updatedAt: now.toISOString() };
}

/** What a subscriber hears about a certificate: never key material (docs/architecture.md, "Events"). */
export function certificateEvent(
  ctx: Pick<Context, 'spec' | 'now' | 'bucket'>,
  type: EventType,
  state: CertificateState,
  extra: Partial<CertificateEvent> = {},
): CertificateEvent {
  return {
    type,
    certificate: ctx.spec.name,
    identifiers: identifierValues(ctx.spec.identifiers),
    status: state.status,
    serial: state.current?.serial,
    notAfter: state.current?.notAfter,
    bucket: ctx.bucket,
    manifestKey: state.current?.manifestKey,
    ca: state.current?.ca,
    at: ctx.now.toISOString(),
    ...extra,
  };
}

function problemType(error: CertkeeperError): string | undefined {
  if (error instanceof AcmeProblemError) return error.type;
  if (error instanceof RetryLaterError) return error.problemType;
  return undefined;
}

/** Two failures are "the same" for announcing purposes when their code and problem type match. */
const errorSignature = (e: LastError | undefined): string => (e ? `${e.code}|${e.type ?? ''}` : '');
