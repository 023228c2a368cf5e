import acme from 'acme-client';
import * as z from 'zod';
import { type Clock, systemClock } from '../model/clock.js';
import { ConflictError } from '../model/errors.js';
import { parseJson } from '../model/json.js';
import { generateKey } from '../pki/private-keys.js';
import { sha256Hex } from '../pki/hash.js';
import { accountKey } from '../store/layout.js';
import type { ObjectStore } from '../store/store.js';
import type { AcmeTransport } from './transport.js';

/** RFC 8555 §7.3.4 external account binding, as issued by the CA (the HMAC key base64url). */
export interface ExternalAccountBinding {
  kid: string;
  hmacKey: string;
}

export interface AccountSettings {
  directoryUrl: string;
  /** Contact for the CA (RFC 8555 §7.3 `contact`, sent as mailto:). */
  email?: string;
  eab?: ExternalAccountBinding;
}

/** accounts/<host>/<id>.json. Stored as a secret object: S3 encrypts it with the KMS key. */
const storedAccountSchema = z.object({
  version: z.literal(1),
  directoryUrl: z.string(),
  contact: z.array(z.string()),
  keyPem: z.string(),
  /** Absent until the CA has registered the key (a crash may leave it so; we then register). */
  url: z.string().optional(),
  createdAt: z.string(),
});
type StoredAccount = z.infer<typeof storedAccountSchema>;

/**
 * One registered ACME account. The private key lives only inside the acme-client instance
 * (a #private field here, so it never shows in logs or JSON).
 */
export class AcmeAccount {
  readonly id: string;
  readonly directoryUrl: string;
  readonly url: string;
  readonly #client: acme.Client;

  constructor(id: string, directoryUrl: string, url: string, client: acme.Client) {
    this.id = id;
    this.directoryUrl = directoryUrl;
    this.url = url;
    this.#client = client;
  }

  /** The signing client, for shared/acme only. */
  client(): acme.Client {
    return this.#client;
  }

  toJSON(): Record<string, string> {
    return { id: this.id, directoryUrl: this.directoryUrl, url: this.url };
  }
}

/** Account id: a short hash of the contact, so one bucket can hold accounts for many contacts. */
export function accountIdFor(email: string | undefined): string {
  return email ? sha256Hex(email.trim().toLowerCase()).slice(0, 16) : 'default';
}

/**
 * Loads or registers ACME accounts, keeping the key in the object store.
 *
 * Let's Encrypt allows 10 new accounts per IP per 3 hours, so the key is created once and
 * reused forever: it is written with `ifAbsent` BEFORE registering, so two cold starts racing
 * end up registering the same key (RFC 8555 §7.3: newAccount with a known key returns the
 * existing account), and a stored key is never replaced. A warm Lambda reuses the account
 * from memory without touching the store or the CA.
 */
export class AcmeAccounts {
  private readonly cache = new Map<string, Promise<AcmeAccount>>();
  private readonly clock: Clock;
  /** What the accounts' clients send their requests through; the CAs over them use it too. */
  readonly transport: AcmeTransport;

  constructor(
    private readonly store: ObjectStore,
    options: { transport: AcmeTransport; clock?: Clock },
  ) {
    this.clock = options.clock ?? systemClock;
    this.transport = options.transport;
  }

  get(settings: AccountSettings): Promise<AcmeAccount> {
    const key = accountKey(settings.directoryUrl, accountIdFor(settings.email));
    let pending = this.cache.get(key);
    if (!pending) {
      pending = this.load(settings, key);
      this.cache.set(key, pending);
      // A failure is not cached: the next call tries again.
      pending.catch(() => this.cache.delete(key));
    }
    return pending;
  }

  /**
   * Registers the stored key again, for when the CA no longer knows the account URL
   * (accountDoesNotExist: a test CA restarted, or the CA purged it). Same key, new URL.
   */
  async reregister(settings: AccountSettings): Promise<AcmeAccount> {
    const key = accountKey(settings.directoryUrl, accountIdFor(settings.email));
    const record = await this.read(key);
    if (!record) return this.get(settings);
    const pending = this.register(settings, key, { ...record, url: undefined });
    this.cache.set(key, pending);
    pending.catch(() => this.cache.delete(key));
    return pending;
  }

  private async load(settings: AccountSettings, key: string): Promise<AcmeAccount> {
    let record = await this.read(key);
    if (!record) record = await this.createKey(settings, key);
    if (!record.url) return this.register(settings, key, record);
    return new AcmeAccount(
      accountIdFor(settings.email),
      settings.directoryUrl,
      record.url,
      this.client(settings, record),
    );
  }

  private async createKey(settings: AccountSettings, key: string): Promise<StoredAccount> {
    const fresh: StoredAccount = {
      version: 1,
      directoryUrl: settings.directoryUrl,
      contact: settings.email ? [`mailto:${settings.email.trim()}`] : [],
      keyPem: generateKey('ecdsa-p256'),
      createdAt: this.clock.now().toISOString(),
    };
    try {
      await this.store.put(key, JSON.stringify(fresh), {
        secret: true,
        ifAbsent: true,
        contentType: 'application/json',
      });
      return fresh;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // Another cold start wrote its key first: use that one, never ours.
      const winner = await this.read(key);
      if (!winner) throw err;
      return winner;
    }
  }

  private async register(
    settings: AccountSettings,
    key: string,
    record: StoredAccount,
  ): Promise<AcmeAccount> {
    const client = this.client(settings, record);
    // RFC 8555 §7.3: certkeeper is deployed by the operator, who accepts the CA's terms.
    await client.createAccount({
      termsOfServiceAgreed: true,
      ...(record.contact.length > 0 ? { contact: record.contact } : {}),
    });
    const url = client.getAccountUrl();
    // Same key, URL added: an overwrite that cannot lose a key.
    await this.store.put(key, JSON.stringify({ ...record, url }), {
      secret: true,
      contentType: 'application/json',
    });
    return new AcmeAccount(accountIdFor(settings.email), settings.directoryUrl, url, client);
  }

  private client(settings: AccountSettings, record: StoredAccount): acme.Client {
    return this.transport.attach(
      new acme.Client({
        directoryUrl: settings.directoryUrl,
        accountKey: record.keyPem,
        ...(record.url ? { accountUrl: record.url } : {}),
        ...(settings.eab ? { externalAccountBinding: settings.eab } : {}),
      }),
    );
  }

  private async read(key: string): Promise<StoredAccount | undefined> {
    const text = await this.store.get(key);
    if (text === undefined) return undefined;
    // An IntegrityError, never a fresh account written over it: it may be the only copy of
    // a registered key. Secret, so the error never quotes the text.
    return parseJson(text, storedAccountSchema, {
      what: `the ACME account object ${key}`,
      fix: 'restore it from a bucket version, or delete it to register a new account',
      as: 'stored',
      secret: true,
    });
  }
}
