import {
  type KeyObject,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import * as z from 'zod';
import { IntegrityError } from '../model/errors.js';
import type { BundleFile } from '../store/layout.js';

/**
 * A certificate delivered to one agent: the public files as they are, and the private key
 * sealed to that agent's delivery key, so a copy of the bucket (or a reader of other
 * agents' prefixes) learns nothing from it. ECIES in the usual shape (SEC 1 §5.1): an
 * ephemeral P-256 key, ECDH with the agent's key, HKDF-SHA256 (RFC 5869) bound to the
 * agent, certificate and serial, then AES-256-GCM with the public files' digest as
 * additional data, so the key cannot be moved under another certificate.
 *
 * Sealing proves nothing about who sealed it: what the agent trusts is the inbox entry
 * (the fleet table, which no bucket writer can change) naming this envelope's SHA-256, and
 * its own checks of the chain and names.
 */
export const ENVELOPE_MAX_BYTES = 64 * 1024;
const ALGORITHM = 'ECDH-ES-P256+HKDF-SHA256+A256GCM';

const b64 = z.string().regex(/^[A-Za-z0-9+/=]*$/);
const envelopeSchema = z
  .object({
    version: z.literal(1),
    agent: z.string(),
    certificate: z.string(),
    serial: z.string(),
    files: z.object({ cert: z.string(), chain: z.string(), fullchain: z.string() }).strict(),
    key: z.object({ algorithm: z.literal(ALGORITHM), epk: b64, iv: b64, tag: b64, ciphertext: b64 }).strict(),
  })
  .strict();

export type Envelope = z.infer<typeof envelopeSchema>;
export type BundleFiles = Record<BundleFile, string>;

interface Binding {
  agent: string;
  certificate: string;
  serial: string;
}

const info = (b: Binding) => Buffer.from(`certkeeper envelope v1\0${b.agent}\0${b.certificate}\0${b.serial}`);
const publicDigest = (files: Envelope['files']) =>
  createHash('sha256')
    .update(files.cert)
    .update('\0')
    .update(files.chain)
    .update('\0')
    .update(files.fullchain)
    .digest();

/** A new delivery key pair for an agent (made on the server; the public half is registered). */
export function newDeliveryKey(): { privateKey: KeyObject; publicKeyDer: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, publicKeyDer: publicKey.export({ type: 'spki', format: 'der' }).toString('base64') };
}

/** Seals `files.privkey` to the agent's delivery key (SPKI DER, base64). */
export function sealEnvelope(binding: Binding, files: BundleFiles, deliveryKey: string): string {
  const recipient = createPublicKey({ key: Buffer.from(deliveryKey, 'base64'), format: 'der', type: 'spki' });
  const ephemeral = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const secret = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
  const aesKey = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info(binding), 32));
  const iv = randomBytes(12);
  const publicFiles = { cert: files.cert, chain: files.chain, fullchain: files.fullchain };
  const cipher = createCipheriv('aes-256-gcm', aesKey, iv);
  cipher.setAAD(publicDigest(publicFiles));
  const ciphertext = Buffer.concat([cipher.update(files.privkey, 'utf8'), cipher.final()]);
  const envelope: Envelope = {
    version: 1,
    ...binding,
    files: publicFiles,
    key: {
      algorithm: ALGORITHM,
      epk: ephemeral.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      ciphertext: ciphertext.toString('base64'),
    },
  };
  return `${JSON.stringify(envelope)}\n`;
}

/**
 * Opens an envelope with the agent's delivery key after checking it is the one expected
 * (`binding`); any mismatch, tampering or a key sealed to someone else is an IntegrityError
 * that names the envelope, never its contents.
 */
export function openEnvelope(
  text: string,
  binding: Binding,
  deliveryKey: KeyObject,
  where: string,
): BundleFiles {
  const refuse = (why: string): never => {
    throw new IntegrityError(
      `${where}: ${why}`,
      'the envelope will be written again by the next delivery; if this repeats, check who writes to the bucket',
    );
  };
  if (Buffer.byteLength(text) > ENVELOPE_MAX_BYTES) refuse(`is over ${ENVELOPE_MAX_BYTES} bytes`);
  let parsed: Envelope;
  try {
    parsed = envelopeSchema.parse(JSON.parse(text));
  } catch {
    return refuse('is not a certkeeper envelope');
  }
  if (
    parsed.agent !== binding.agent ||
    parsed.certificate !== binding.certificate ||
    parsed.serial !== binding.serial
  ) {
    refuse(
      `is for ${parsed.agent}/${parsed.certificate}/${parsed.serial}, not ${binding.agent}/${binding.certificate}/${binding.serial}`,
    );
  }
  try {
    const epk = createPublicKey({ key: Buffer.from(parsed.key.epk, 'base64'), format: 'der', type: 'spki' });
    const secret = diffieHellman({ privateKey: deliveryKey, publicKey: epk });
    const aesKey = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info(binding), 32));
    const decipher = createDecipheriv('aes-256-gcm', aesKey, Buffer.from(parsed.key.iv, 'base64'));
    decipher.setAAD(publicDigest(parsed.files));
    decipher.setAuthTag(Buffer.from(parsed.key.tag, 'base64'));
    const privkey = Buffer.concat([
      decipher.update(Buffer.from(parsed.key.ciphertext, 'base64')),
      decipher.final(),
    ]).toString('utf8');
    return { ...parsed.files, privkey };
  } catch {
    return refuse("cannot be opened with this agent's delivery key (sealed to another key, or altered)");
  }
}

/** A short, stable name for a delivery key (SPKI DER, base64): what an inbox entry is sealed to. */
export const deliveryKeyId = (deliveryKey: string): string =>
  createHash('sha256').update(Buffer.from(deliveryKey, 'base64')).digest('hex').slice(0, 16);

/** SHA-256 (hex) of an envelope's text, as the inbox names it. */
export const envelopeSha256 = (text: string): string =>
  createHash('sha256').update(text, 'utf8').digest('hex');
