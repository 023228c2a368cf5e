/**
 * Port: a lease lock per certificate. A lease is taken only when absent or expired (never
 * relying on TTL deletion, which can lag by days), carries a random owner token, and a
 * fencing token that grows with every acquisition so stale holders can be refused.
 */
export interface Lease {
  name: string;
  owner: string;
  fencingToken: number;
  expiresAt: Date;
}

export interface LeaseLock {
  /** A lease, or undefined when another owner holds an unexpired one. */
  acquire(name: string, ttlMs: number): Promise<Lease | undefined>;
  /** Extends the lease; throws ConflictError when it was lost. */
  renew(lease: Lease, ttlMs: number): Promise<Lease>;
  /** Releases only if still the owner; a lost lease is left alone. */
  release(lease: Lease): Promise<void>;
}
