import type { CertificateSpec } from '../model/spec.js';
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

/** The scheduler's heartbeat: when it last completed a tick, and what the tick found. */
export interface SchedulerTick {
  /** ISO-8601 time of the tick. */
  at: string;
  checked: number;
  enqueued: number;
}

/**
 * Port: the spec and state of every certificate. State writes made during a renewal are
 * fenced: they succeed only while `lease` is still the one held for the certificate, so a
 * worker that lost its lease (paused, timed out, taken over) cannot overwrite newer state.
 */
export interface Inventory {
  get(name: string): Promise<InventoryRecord | undefined>;
  /** Every certificate, sorted by name: reads the whole inventory (CLI, not the scheduler). */
  list(): Promise<InventoryRecord[]>;
  /**
   * Declares a certificate. A new one starts with `initialState`, due at once. For an
   * existing one, an equal spec (`sameSpec`) changes nothing; a different one is written
   * together with `stateAfterSpecChange`, atomically, so a concurrent declaration or state
   * write is never half-applied. Not fenced: declaring is the operator's act.
   */
  putSpec(spec: CertificateSpec): Promise<void>;
  /**
   * Writes the state and files the certificate under `state.dueAt` in the due index (out
   * of it when absent: retired). Throws ConflictError when the lease is no longer held.
   */
  putState(name: string, state: CertificateState, lease: Lease): Promise<void>;
  /**
   * An operator's change to the state (retire, revive), unfenced and optimistic: `amend`
   * sees the stored record and returns the new state, or undefined to leave it; the write
   * happens only if nothing changed the item in between (re-read and retried otherwise).
   * Returns the state written, or undefined when the certificate is absent or unchanged.
   */
  amendState(
    name: string,
    amend: (record: InventoryRecord) => CertificateState | undefined,
  ): Promise<CertificateState | undefined>;
  remove(name: string): Promise<void>;
  /**
   * The certificates due at `now` (`state.dueAt <= now`), earliest first, at most `limit`.
   * May lag a write by a moment (DynamoDB's index is eventually consistent): a certificate
   * missed is found by the next tick, and one listed that is no longer due is re-checked
   * under its lease by the issuer.
   */
  listDue(now: Date, limit?: number): Promise<DueRecords>;
  /** Records a completed scheduler tick (the heartbeat the stack alarms on when it ages). */
  recordTick(at: Date, summary: { checked: number; enqueued: number }): Promise<void>;
  /** The last recorded tick; undefined before the first one. */
  lastTick(): Promise<SchedulerTick | undefined>;
}
