import { acmImportDueAt } from './acm-plan.js';
import type { CertificateSpec } from '../model/spec.js';
import type { CertificateState } from '../model/state.js';

/**
 * A changed spec resets the failure count (the failures may have been the old spec's
 * fault) and makes the certificate due now. When the change touches what the certificate
 * itself says (names, key type, profile), the one in place no longer fits: reissue.
 */
export function stateAfterSpecChange(
  state: CertificateState,
  before: CertificateSpec,
  after: CertificateSpec,
  now: Date,
): CertificateState {
  // Where it is delivered (and the labels agents select it by) is not what it is: such a
  // change alone touches no state, but an ACM region newly declared for a certificate in
  // place is due for its import at once.
  const what = (s: CertificateSpec): CertificateSpec => ({ ...s, delivery: undefined, labels: undefined });
  if (sameSpec(what(before), what(after))) {
    const acm = acmImportDueAt(after, state, now);
    if (acm && state.dueAt && acm < new Date(state.dueAt)) return { ...state, dueAt: acm.toISOString() };
    return state;
  }
  const at = now.toISOString();
  return {
    ...state,
    status: state.status === 'failing' ? (state.current ? 'valid' : 'pending') : state.status,
    attempts: 0,
    nextAttemptAt: undefined,
    reissue: state.current ? state.reissue || changesCertificate(before, after) : undefined,
    dueAt: at,
    updatedAt: at,
  };
}

/**
 * A pass's result when the spec it ran for (`ranFor`) may have been replaced meanwhile by
 * `latest` (declaring is not fenced): the change's reset is carried over rather than
 * overwritten by a state made for the old spec.
 */
export function stateForLatestSpec(
  state: CertificateState,
  ranFor: CertificateSpec,
  latest: CertificateSpec,
  now: Date,
): CertificateState {
  return sameSpec(latest, ranFor) ? state : stateAfterSpecChange(state, ranFor, latest, now);
}

export function sameSpec(a: CertificateSpec, b: CertificateSpec): boolean {
  return JSON.stringify(normal(a)) === JSON.stringify(normal(b));
}

function changesCertificate(a: CertificateSpec, b: CertificateSpec): boolean {
  const names = (s: CertificateSpec) =>
    s.identifiers
      .map((i) => `${i.type}:${i.value}`)
      .sort()
      .join(',');
  return names(a) !== names(b) || a.keyType !== b.keyType || a.profile !== b.profile;
}

const normal = (s: CertificateSpec) => ({
  ...s,
  identifiers: [...s.identifiers].sort((x, y) => x.value.localeCompare(y.value)),
});

/** Removed from the config: out of the due index, files and keys kept. */
export function retiredState(state: CertificateState, now: Date): CertificateState | undefined {
  if (state.status === 'retired') return undefined;
  return {
    ...state,
    status: 'retired',
    dueAt: undefined,
    nextAttemptAt: undefined,
    updatedAt: now.toISOString(),
  };
}

/** Declared again after retirement: due at once, failures forgotten. */
export function revivedState(state: CertificateState, now: Date): CertificateState | undefined {
  if (state.status !== 'retired') return undefined;
  const at = now.toISOString();
  return { ...state, status: state.current ? 'valid' : 'pending', attempts: 0, dueAt: at, updatedAt: at };
}
