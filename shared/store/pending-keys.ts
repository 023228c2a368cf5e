import { pendingKeyKey } from './keys.js';
import type { ObjectStore } from './store.js';

/**
 * Port: the private key of the order in flight, kept from before the order is placed until
 * the next renewal's key replaces it. A worker cut off after finalize (RFC 8555 §7.4) leaves
 * a valid order whose certificate only this key can use; the next worker resumes that order
 * with it instead of ordering again. Once the certificate is stored the kept key is a copy
 * of its privkey.pem, so keeping it exposes nothing new.
 */
export interface PendingKeys {
  get(name: string): Promise<string | undefined>;
  put(name: string, keyPem: string): Promise<void>;
}

/** Pending keys as objects beside the certificate's serials, encrypted like them. */
export class ObjectPendingKeys implements PendingKeys {
  constructor(private readonly objects: ObjectStore) {}

  get(name: string): Promise<string | undefined> {
    return this.objects.get(pendingKeyKey(name));
  }

  put(name: string, keyPem: string): Promise<void> {
    return this.objects.put(pendingKeyKey(name), keyPem, { secret: true });
  }
}
