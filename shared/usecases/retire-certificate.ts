import { retiredState } from '../renewal/spec-change.js';
import type { Log } from '../model/log.js';
import type { PendingKeys } from '../store/pending-keys.js';
import { type Amended, type AmendDeps, type AmendOptions, amendUnderLease } from './amend-under-lease.js';

export interface RetireDeps extends AmendDeps {
  /** The key kept for an order in flight, which a retired certificate never resumes. */
  pendingKeys: PendingKeys;
}

/**
 * Retires a certificate: out of the schedule, never renewed again, its files and keys kept
 * (renewal/spec-change.ts), written under its lease after any renewal in progress
 * (amend-under-lease.ts). The key kept for crash resume (store/pending-keys.ts) goes: no
 * order of this certificate will be resumed, and it would only be a second copy of a key.
 * Already retired: the state stays as it is and a key left behind is still removed.
 */
export async function retireCertificate(
  deps: RetireDeps,
  name: string,
  options: AmendOptions = {},
): Promise<Amended> {
  const amended = await amendUnderLease(
    deps,
    name,
    ({ state }) => retiredState(state, deps.clock.now()),
    options,
  );
  if (amended.found) await dropPendingKey(deps, name);
  return amended;
}

/**
 * A retired certificate's kept key goes; failing that is a warning, not a failed
 * retirement (the key stays encrypted where it was, and the next retirement tries again).
 */
export async function dropPendingKey(
  deps: { pendingKeys: PendingKeys; log: Log },
  name: string,
): Promise<void> {
  await deps.pendingKeys.delete(name).catch((err: unknown) =>
    deps.log.warn('the key kept for an order of the retired certificate was not removed', {
      certificate: name,
      error: err instanceof Error ? err.message : String(err),
    }),
  );
}
