import { DAY } from '../model/clock.js';
import type { CertificateState } from '../model/state.js';

/**
 * An operator's request to renew now, whatever the policy says (`certkeeper renew --force`):
 * its id, and when it was made. A queue delivers a message at least once, and anyone who can
 * send to the queue can send one again; each forced order spends the CA's rate limits (RFC
 * 8555 §6.6, Let's Encrypt's weekly limits), so the issuer honours each request once.
 */
export interface ForceRequest {
  id: string;
  /** ISO time the operator asked. */
  at: string;
}

/** Request ids remembered per certificate: the last few forced renewals it had. */
export const REMEMBERED_FORCE_REQUESTS = 5;
/** Older requests are replays, whatever their id: a manual request is handled in minutes. */
export const FORCE_REQUEST_MAX_AGE_MS = DAY;

export type ForceDecision = { force: true } | { force: false; ignored: string };

/**
 * Whether a forced renewal is honoured (pure; decided under the lease on the state just
 * claimed). Not when this request was handled already (a duplicate delivery or a replay),
 * when it is older than a day, when the certificate was renewed since it was asked for (a
 * pass that held the lease meanwhile did what the operator wanted), or when the certificate
 * is retired. An ignored request still renews the certificate if the policy says it is due.
 */
export function forceDecision(state: CertificateState, request: ForceRequest, now: Date): ForceDecision {
  if (state.forced?.includes(request.id)) {
    return { force: false, ignored: 'this request was handled already (a duplicate delivery or a replay)' };
  }
  const at = Date.parse(request.at);
  if (!(at >= now.getTime() - FORCE_REQUEST_MAX_AGE_MS)) {
    return { force: false, ignored: 'the request is more than a day old (a replay)' };
  }
  if (state.lastSuccessAt && Date.parse(state.lastSuccessAt) >= at) {
    return { force: false, ignored: 'the certificate was renewed since the request' };
  }
  if (state.status === 'retired') return { force: false, ignored: 'the certificate is retired' };
  return { force: true };
}

/** The state with the request remembered (the last REMEMBERED_FORCE_REQUESTS, newest last). */
export function rememberForce(state: CertificateState, request: ForceRequest): CertificateState {
  const forced = [...(state.forced ?? []).filter((id) => id !== request.id), request.id];
  return { ...state, forced: forced.slice(-REMEMBERED_FORCE_REQUESTS) };
}
