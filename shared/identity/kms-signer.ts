import { createHash, createPublicKey } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { callAws } from '../aws/errors.js';
import type { Clock } from '../model/clock.js';
import { ValidationError } from '../model/errors.js';
import type { CaSigner } from './signer.js';

/**
 * The agents' CA key in KMS (key spec ECC_NIST_P256, usage SIGN_VERIFY): KMS signs a digest
 * we compute and returns the DER ECDSA signature X.509 wants; the private key never leaves
 * KMS. The public key is asked for once per instance (it never changes for a key).
 */
export class KmsCaSigner implements CaSigner {
  private spki: Promise<Buffer> | undefined;

  constructor(
    private readonly kms: KMSClient,
    private readonly keyId: string,
    private readonly clock?: Clock,
  ) {}

  publicKey(): Promise<Buffer> {
    this.spki ??= (async () => {
      const out = await callAws(this.context('GetPublicKey'), () =>
        this.kms.send(new GetPublicKeyCommand({ KeyId: this.keyId })),
      );
      // The key itself says what it is (KeySpec is missing from some KMS implementations' answers).
      const key =
        out.PublicKey && createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' });
      if (!key || key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
        throw new ValidationError(
          'CERTKEEPER_AGENT_CA_KEY_ID',
          `KMS key ${this.keyId} is ${out.KeySpec ?? key?.asymmetricKeyType ?? 'of an unknown spec'}, not ECC_NIST_P256`,
          "point it at the stack's agents CA key (an ECC_NIST_P256 SIGN_VERIFY key)",
        );
      }
      return Buffer.from(out.PublicKey!);
    })();
    this.spki.catch(() => (this.spki = undefined));
    return this.spki;
  }

  async sign(data: Buffer): Promise<Buffer> {
    const digest = createHash('sha256').update(data).digest();
    const out = await callAws(this.context('Sign'), () =>
      this.kms.send(
        new SignCommand({
          KeyId: this.keyId,
          Message: digest,
          MessageType: 'DIGEST',
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
      ),
    );
    if (!out.Signature) throw new Error(`KMS Sign with ${this.keyId} returned no signature`);
    return Buffer.from(out.Signature);
  }

  private context(operation: string) {
    return {
      service: 'KMS',
      operation,
      resource: this.keyId,
      client: this.kms,
      ...(this.clock ? { clock: this.clock } : {}),
    };
  }
}
