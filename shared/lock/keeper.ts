import { ConflictError } from '../model/errors.js';
import type { Log } from '../model/log.js';
import { leaseLost } from './lease.js';
import type { Lease, LeaseLock } from './lock.js';

/** The lease held for a piece of work; `lease` follows its renewals. */
export interface HeldLease {
  readonly lease: Lease;
  /**
   * Renews the lease now, for a write that no fence guards (the manifest in the bucket, an
   * ACM import): throws ConflictError naming `refused` when the lease was taken over or
   * released. Renewed, it lasts a whole TTL from here, so the write that follows runs
   * while no other worker can hold the certificate.
   */
  confirm(refused: string): Promise<void>;
}

/**
 * Runs `work` under the lease on `name`, or returns undefined at once when another worker
 * holds it. While the work runs (an order waiting on validation can take minutes) the
 * lease is renewed every third of its TTL, so a slow CA does not hand the certificate to a
 * second worker mid-order. A renewal that fails is logged and the lease kept as it was:
 * if it was lost, the fenced state write refuses this worker's result. Released at the
 * end, whatever happened; a failed release only waits for the lease to expire.
 */
export async function withLease<T>(
  lock: LeaseLock,
  name: string,
  ttlMs: number,
  log: Log,
  work: (held: HeldLease) => Promise<T>,
): Promise<T | undefined> {
  const acquired = await lock.acquire(name, ttlMs);
  if (!acquired) return undefined;
  const held = {
    lease: acquired,
    async confirm(refused: string): Promise<void> {
      try {
        held.lease = await lock.renew(held.lease, ttlMs);
      } catch (err) {
        throw err instanceof ConflictError ? leaseLost(held.lease, refused) : err;
      }
    },
  };
  const timer = setInterval(() => {
    lock.renew(held.lease, ttlMs).then(
      (renewed) => (held.lease = renewed),
      (err: unknown) => log.warn('lease renewal failed', { certificate: name, error: String(err) }),
    );
  }, ttlMs / 3);
  timer.unref();
  try {
    return await work(held);
  } finally {
    clearInterval(timer);
    await lock.release(held.lease).catch((err: unknown) =>
      log.warn('lease release failed; it will expire on its own', {
        certificate: name,
        error: String(err),
      }),
    );
  }
}
