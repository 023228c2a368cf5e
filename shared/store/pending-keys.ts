import * as z from 'zod';
import { parseJson } from '../model/json.js';
import { pendingKeyKey } from './layout.js';
import type { ObjectStore } from './store.js';

/** The key an order was finalized with, and the order it belongs to. */
export interface PendingKey {
  orderUrl: string;
  keyPem: string;
}

/**
 * Port: the private key of the order in flight, kept from the order's creation (written
 * beside its authorizations, awaited before finalize, when the CSR commits the order to it;
 * taken back if the attempt fails before then) until the renewal's state names the new
 * certificate (usecases/renew-certificate.ts deletes it then), or the certificate is retired.
 * A worker cut off after finalize (RFC 8555 §7.4) leaves a valid order whose certificate
 * only this key can use; the next worker resumes that order with it instead of ordering
 * again. Once the certificate is stored the kept key is a copy of its privkey.pem, so
 * keeping it until the state write exposes nothing new.
 */
export interface PendingKeys {
  get(name: string): Promise<PendingKey | undefined>;
  put(name: string, pending: PendingKey): Promise<void>;
  /** Takes back a key: its order never reached finalize, is recorded, or will never be resumed. */
  delete(name: string): Promise<void>;
}

const pendingKeySchema = z.object({ orderUrl: z.string().min(1), keyPem: z.string().min(1) });

/** Pending keys as one object beside the certificate's serials, encrypted like them. */
export class ObjectPendingKeys implements PendingKeys {
  constructor(private readonly objects: ObjectStore) {}

  async get(name: string): Promise<PendingKey | undefined> {
    const key = pendingKeyKey(name);
    const text = await this.objects.get(key);
    if (text === undefined) return undefined;
    // Never quoted in an error: the text holds a private key.
    return parseJson(text, pendingKeySchema, {
      what: key,
      as: 'stored',
      secret: true,
      fix: `delete ${key}; the next order keeps a new one`,
    });
  }

  async put(name: string, pending: PendingKey): Promise<void> {
    await this.objects.put(pendingKeyKey(name), JSON.stringify(pending), { secret: true });
  }

  async delete(name: string): Promise<void> {
    await this.objects.delete(pendingKeyKey(name));
  }
}
