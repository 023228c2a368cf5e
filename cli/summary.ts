/**
 * One certificate's inventory record as `list` and `status` report it, for the stack
 * (cli/commands/list.ts, status.ts) and for a local directory (cli/local/manage.ts) alike.
 */
import type { CertificateState, InventoryRecord } from '../shared/model/state.js';
import { computeDueAt } from '../shared/renewal/policy.js';
import { renewalTime } from '../shared/renewal/timing.js';

/** One certificate as `list` reports it; `status` adds the rest. */
export interface CertificateSummary {
  name: string;
  identifiers: string[];
  profile: string | null;
  challenge: string;
  status: CertificateState['status'];
  serial: string | null;
  notAfter: string | null;
  /** The CA that issued the current certificate (config `cas[].name`). */
  ca: string | null;
  /** When the current certificate renews (ARI's time, the override or the default). */
  renewalAt: string | null;
  /** When the scheduler next looks at it: renewal, retry, ARI poll or expiry warning. */
  dueAt: string | null;
  attempts: number;
  needsAttention: boolean;
}

export function summarize(record: InventoryRecord, now: Date): CertificateSummary {
  const { spec, state } = record;
  const renewal =
    state.status === 'retired'
      ? undefined
      : state.current
        ? renewalTime(spec, state.current, state.ari)
        : now;
  const due = computeDueAt(spec, state, now);
  return {
    name: spec.name,
    identifiers: spec.identifiers.map((i) => i.value),
    profile: spec.profile ?? null,
    challenge: spec.challenge,
    status: state.status,
    serial: state.current?.serial ?? null,
    notAfter: state.current?.notAfter ?? null,
    ca: state.current?.ca ?? null,
    renewalAt: renewal?.toISOString() ?? null,
    dueAt: due?.toISOString() ?? null,
    attempts: state.attempts,
    needsAttention: needsAttention(state),
  };
}

/** A failed attempt, repeated failures or a lapsed certificate: what exit code 1 reports. */
const needsAttention = (state: CertificateState): boolean =>
  state.status !== 'retired' &&
  (state.status === 'failing' || state.status === 'expired' || state.attempts > 0);

/** How `list` paints a certificate's status. */
export const tone = (s: CertificateSummary): 'ok' | 'warn' | 'fail' =>
  s.status === 'failing' || s.status === 'expired'
    ? 'fail'
    : s.needsAttention || s.status === 'pending'
      ? 'warn'
      : 'ok';
