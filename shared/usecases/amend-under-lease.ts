import type { Inventory } from '../inventory/inventory.js';
import { withLease } from '../lock/keeper.js';
import type { LeaseLock } from '../lock/lock.js';
import { type Clock, MINUTE } from '../model/clock.js';
import { CertkeeperError } from '../model/errors.js';
import type { Log } from '../model/log.js';
import type { CertificateState, InventoryRecord } from '../model/state.js';

export interface AmendDeps {
  inventory: Inventory;
  lock: LeaseLock;
  clock: Clock;
  log: Log;
  leaseTtlMs?: number;
}

export interface AmendOptions {
  /** How long to wait for a renewal in progress to release the lease. Default 10 minutes. */
  waitMs?: number;
  /** Between two tries for the lease. Default 1 s. */
  pollMs?: number;
  /** Called once, when the lease is held by a renewal in progress and the wait begins. */
  onBusy?: () => void;
}

export type Amended =
  | { found: false }
  /** `state` is what was written; undefined when `amend` left the certificate as it was. */
  | { found: true; before: InventoryRecord; state: CertificateState | undefined };

/** A renewal held the certificate's lease for longer than the operator's change would wait. */
export class LeaseBusyError extends CertkeeperError {
  constructor(name: string, waitedMs: number) {
    super(
      'conflict',
      `certificate "${name}" is being renewed: its lease was still held after ${Math.round(waitedMs / 1000)} s`,
      { retryable: true, fix: `try again once the renewal has finished (certkeeper status ${name})` },
    );
  }
}

const DEFAULT_WAIT_MS = 10 * MINUTE;
const DEFAULT_POLL_MS = 1000;
/** Long enough for one amendment; it is released at once. */
const AMEND_LEASE_TTL_MS = MINUTE;

/**
 * An operator's change to a certificate's state (a revocation noted for reissue, retired),
 * made under the certificate's lease like every write of a renewal. An unfenced change
 * would be overwritten by a renewal pass that claimed the certificate before it and writes
 * its whole state after it: the revocation's reissue flag lost, or a retired certificate
 * back in the schedule. Under the lease it waits for that pass to end, then
 * claims the certificate (refusing any later write of the pass) and amends the state the
 * pass left: `amend` sees it and returns the new state, or undefined to leave it.
 */
export async function amendUnderLease(
  deps: AmendDeps,
  name: string,
  amend: (record: InventoryRecord) => CertificateState | undefined,
  options: AmendOptions = {},
): Promise<Amended> {
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const started = deps.clock.now().getTime();
  let told = false;
  for (;;) {
    const amended = await withLease(
      deps.lock,
      name,
      deps.leaseTtlMs ?? AMEND_LEASE_TTL_MS,
      deps.log,
      async (held): Promise<Amended> => {
        const before = await deps.inventory.claim(name, held.lease);
        if (!before) return { found: false };
        const state = amend(before);
        if (state) await deps.inventory.putState(name, state, held.lease);
        return { found: true, before, state };
      },
    );
    if (amended) return amended;
    const waited = deps.clock.now().getTime() - started;
    if (waited >= waitMs) throw new LeaseBusyError(name, waited);
    if (!told) options.onBusy?.();
    told = true;
    await new Promise((done) => setTimeout(done, options.pollMs ?? DEFAULT_POLL_MS));
  }
}
