import { type KeyObject, createPublicKey, sign } from 'node:crypto';

/**
 * Port: the key of the agents' CA. It signs, and never gives its private half away: in the
 * stack a KMS asymmetric key (kms-signer.ts), which cannot be exported at all; in local mode
 * and tests a key in memory.
 */
export interface CaSigner {
  /** The CA's public key as SubjectPublicKeyInfo DER (what a certificate embeds). */
  publicKey(): Promise<Buffer>;
  /** An ECDSA P-256 signature, DER-encoded (X.509's ECDSA-Sig-Value), over SHA-256 of `data`. */
  sign(data: Buffer): Promise<Buffer>;
}

/** A CA key held in memory: local mode and tests. */
export class LocalCaSigner implements CaSigner {
  constructor(private readonly key: KeyObject) {
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error('the agents CA key must be an EC P-256 key');
    }
  }

  async publicKey(): Promise<Buffer> {
    return createPublicKey(this.key).export({ type: 'spki', format: 'der' });
  }

  async sign(data: Buffer): Promise<Buffer> {
    // node's default dsaEncoding is DER, the form X.509 carries (RFC 3279 §2.2.3).
    return sign('sha256', data, this.key);
  }
}
