import type { CertificateSpec } from '../model/spec.js';
import type { CertificateState, InventoryRecord } from '../model/state.js';
import type { Lease } from '../lock/lock.js';

/**
 * Port: the spec and state of every certificate. State writes made during a renewal are
 * fenced: they succeed only while `lease` is still the one held for the certificate, so a
 * worker that lost its lease (paused, timed out, taken over) cannot overwrite newer state.
 */
export interface Inventory {
  get(name: string): Promise<InventoryRecord | undefined>;
  list(): Promise<InventoryRecord[]>;
  /** Creates or replaces the spec; creates an initial state when there is none. */
  putSpec(spec: CertificateSpec): Promise<void>;
  /** Throws ConflictError when the lease is no longer held. */
  putState(name: string, state: CertificateState, lease: Lease): Promise<void>;
  remove(name: string): Promise<void>;
}
