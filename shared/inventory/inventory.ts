import type { CertificateState, InventoryRecord } from '../model/state.js';
import type { Lease } from '../lock/lock.js';

/** The certificates due at one scheduler tick, and what finding them cost. */
export interface DueRecords {
  /** Every certificate whose `state.dueAt` is at or before the tick, earliest first. */
  records: InventoryRecord[];
  /**
   * Items the adapter had to read to find them (DynamoDB: the query's ScannedCount). With
   * the due index this follows the number due, not the size of the inventory.
   */
  itemsRead: number;
}

export interface PutStateOptions {
  followsOwnWrite?: boolean;
}

/**
 * Port: the spec and state of every certificate. State writes made during a renewal are
 * fenced: they succeed only while `lease` is still the one held for the certificate, so a
 * worker that lost its lease (paused, timed out, taken over) cannot overwrite newer state.
 */
export interface Inventory {
  get(name: string): Promise<InventoryRecord | undefined>;
  /**
   * The record, read under `lease` after marking the certificate as written under it (its
   * fencing token). From then on a write by any older lease is refused, and anything such a
   * lease wrote before is in what this returns: so a worker that claims before it reads
   * never acts on a state a late holder changes behind it. Undefined when the certificate
   * is absent; ConflictError when a newer lease has claimed or written it already.
   */
  claim(name: string, lease: Lease): Promise<InventoryRecord | undefined>;
  /** Every certificate, sorted by name: reads the whole inventory (CLI, not the scheduler). */
  list(): Promise<InventoryRecord[]>;
  /**
   * An operator's change (declare, retire, revive), unfenced and optimistic: `change` sees
   * the stored record (undefined when absent) and returns the record to write, or
   * undefined to leave it. The write happens only if nothing changed the item in between;
   * otherwise the record is read again and `change` asked again. The rules (what a spec
   * change does to the state) live with the caller, in usecases/declare-certificates.ts.
   * Returns the record written, or undefined when nothing was.
   */
  update(
    name: string,
    change: (stored: InventoryRecord | undefined) => InventoryRecord | undefined,
  ): Promise<InventoryRecord | undefined>;
  /**
   * Writes the state and files the certificate under `state.dueAt` in the due index (out
   * of it when absent: retired). Throws ConflictError when a newer lease has claimed or
   * written the certificate (an adapter may also refuse a lease that is merely no longer
   * held). `followsOwnWrite`: this lease wrote the state last (the outbox's clearing write
   * after the events went out); the write is then refused also if this lease has not.
   */
  putState(name: string, state: CertificateState, lease: Lease, options?: PutStateOptions): Promise<void>;
  remove(name: string): Promise<void>;
  /**
   * The certificates due at `now` (`state.dueAt <= now`), earliest first, at most `limit`.
   * May lag a write by a moment (DynamoDB's index is eventually consistent): a certificate
   * missed is found by the next tick, and one listed that is no longer due is re-checked
   * under its lease by the issuer.
   */
  listDue(now: Date, limit?: number): Promise<DueRecords>;
}

/**
 * An operator's change to the state alone (retire, revive, a revocation noted): `amend`
 * sees the stored record and returns the new state, or undefined to leave it. Returns the
 * state written, or undefined when the certificate is absent or unchanged.
 */
export async function amendState(
  inventory: Inventory,
  name: string,
  amend: (record: InventoryRecord) => CertificateState | undefined,
): Promise<CertificateState | undefined> {
  const written = await inventory.update(name, (stored) => {
    const state = stored && amend(stored);
    return stored && state && { spec: stored.spec, state };
  });
  return written?.state;
}
