import type { KeyObject } from 'node:crypto';
import {
  ENVELOPE_MAX_BYTES,
  envelopeSha256,
  openEnvelope,
  type BundleFiles,
} from '../shared/agents/envelope.js';
import type { AgentInboxes, InboxEntry } from '../shared/agents/inbox.js';
import { IntegrityError, NotFoundError } from '../shared/model/errors.js';
import { sha256Hex } from '../shared/pki/hash.js';
import { BUNDLE_FILES, manifestKey } from '../shared/store/layout.js';
import type { CertificateStore, Manifest, ObjectStore } from '../shared/store/store.js';

/**
 * Where an agent learns what it should have and fetches it: the port the check runs on.
 * Two adapters: the registry agent's inbox and sealed envelopes (InboxSource), and the
 * bucket read directly, for agents whose credentials the operator grants (BucketSource).
 * Each checks the integrity of what it hands over against what names it (the inbox's
 * SHA-256 of the envelope, the manifest's of each file); the check verifies the rest.
 */
export interface Offer {
  serial: string;
  /** What the certificate must name, when the source knows it from a place it trusts. */
  identifiers?: readonly string[];
  /** The identifiers the source itself claims (a manifest's), for the fallback's SANs. */
  claimed: readonly string[];
  /** For messages: where the offer was read. */
  where: string;
}

export interface CertificateSource {
  /** The certificates this agent receives, by name (configured ones in direct mode). */
  names(): Promise<string[]>;
  /** What is current for `name`; NotFoundError when it has not been issued (yet). */
  offer(name: string): Promise<Offer>;
  /** The offer's files, checked against what names them. */
  files(name: string, offer: Offer): Promise<BundleFiles>;
}

/** Direct mode: manifests and files under certificates/<name>/ of the bucket. */
export class BucketSource implements CertificateSource {
  /** The manifest of each offer, for the files that follow it. */
  private readonly manifests = new Map<string, Manifest>();

  constructor(
    private readonly store: CertificateStore,
    private readonly names_: readonly string[],
  ) {}

  async names(): Promise<string[]> {
    return [...this.names_];
  }

  async offer(name: string): Promise<Offer> {
    const manifest = await this.store.getManifest(name);
    if (!manifest) {
      throw new NotFoundError(
        `${this.store.location}/${manifestKey(name)} does not exist: certificate "${name}" has not been issued (yet)`,
        'check the certificate name and bucket in the agent config; a new certificate appears after the issuer has run',
      );
    }
    this.manifests.set(name, manifest);
    return {
      serial: manifest.serial,
      claimed: manifest.identifiers,
      where: `${this.store.location}/${manifestKey(name)}`,
    };
  }

  async files(name: string, offer: Offer): Promise<BundleFiles> {
    const manifest = this.manifests.get(name);
    if (!manifest || manifest.serial !== offer.serial) throw new Error(`files(${name}) without its offer`);
    const texts = await Promise.all(BUNDLE_FILES.map((f) => this.store.readFile(manifest.files[f].key)));
    const files = Object.fromEntries(BUNDLE_FILES.map((f, i) => [f, texts[i]!])) as BundleFiles;
    for (const f of BUNDLE_FILES) {
      if (sha256Hex(files[f]) !== manifest.files[f].sha256) {
        throw new IntegrityError(
          `refused serial ${manifest.serial} of ${name}: ${manifest.files[f].key} does not match the sha256 in the manifest`,
          'renew the certificate, or restore the objects from a bucket version; the installed one stays',
        );
      }
    }
    return files;
  }
}

/**
 * Registry mode: the inbox (fleet table) says what is current, with the names from the
 * certificate's spec; the envelope under agents/<me>/deliveries/ carries the files, its
 * SHA-256 as the inbox names it, the key sealed to this agent's delivery key.
 */
export class InboxSource implements CertificateSource {
  private entries: Record<string, InboxEntry> = {};

  constructor(
    private readonly agent: string,
    private readonly inboxes: AgentInboxes,
    private readonly objects: ObjectStore,
    private readonly deliveryKey: () => Promise<KeyObject>,
  ) {}

  /** Reads the inbox (consistently) and keeps its entries for the offers that follow. */
  async names(): Promise<string[]> {
    const inbox = await this.inboxes.get(this.agent);
    this.entries = inbox?.entries ?? {};
    return Object.keys(this.entries).sort();
  }

  async offer(name: string): Promise<Offer> {
    const entry = Object.hasOwn(this.entries, name) ? this.entries[name] : undefined;
    if (!entry) {
      throw new NotFoundError(
        `certificate "${name}" is not in the inbox of agent ${this.agent}`,
        "check the agent's selector (certkeeper agent show) and that the certificate has been issued",
      );
    }
    return {
      serial: entry.serial,
      identifiers: entry.identifiers,
      claimed: entry.identifiers,
      where: entry.key,
    };
  }

  async files(name: string, offer: Offer): Promise<BundleFiles> {
    const entry = this.entries[name]!;
    const text = await this.objects.get(entry.key, { maxBytes: ENVELOPE_MAX_BYTES });
    if (text === undefined) {
      throw new NotFoundError(
        `${entry.key} is missing`,
        'the next delivery writes it again; if this repeats, check the deliver function',
      );
    }
    if (envelopeSha256(text) !== entry.sha256) {
      throw new IntegrityError(
        `refused serial ${offer.serial} of ${name}: ${entry.key} is not the envelope the inbox names (SHA-256 differs)`,
        'the next delivery writes it again; if this repeats, check who writes to the bucket',
      );
    }
    return openEnvelope(
      text,
      { agent: this.agent, certificate: name, serial: entry.serial },
      await this.deliveryKey(),
      entry.key,
    );
  }
}
