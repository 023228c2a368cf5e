import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { ValidationError } from '../model/errors.js';
import { KEY_TYPES, type KeyType } from '../model/key-types.js';

/**
 * Generates a certificate (or ACME account) private key as PKCS#8 PEM. Synchronous on
 * purpose: an EC key takes well under a millisecond; RSA 4096 can take a second or two,
 * which is still short next to an ACME order.
 */
export function generateKey(keyType: KeyType): string {
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  switch (keyType) {
    case 'ecdsa-p256':
    case 'ecdsa-p384': {
      const namedCurve = keyType === 'ecdsa-p256' ? 'P-256' : 'P-384';
      return generateKeyPairSync('ec', { namedCurve, privateKeyEncoding, publicKeyEncoding }).privateKey;
    }
    case 'rsa2048':
    case 'rsa3072':
    case 'rsa4096': {
      const modulusLength = Number(keyType.slice(3));
      return generateKeyPairSync('rsa', { modulusLength, privateKeyEncoding, publicKeyEncoding }).privateKey;
    }
    default:
      throw new ValidationError(
        'keyType',
        `"${String(keyType)}" is not a supported key type`,
        `use one of: ${KEY_TYPES.join(', ')}`,
      );
  }
}

/** The key type of a PKCS#8 PEM private key, or undefined for one certkeeper does not make. */
export function keyTypeOf(keyPem: string): KeyType | undefined {
  const key = createPrivateKey(keyPem);
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    return details?.namedCurve === 'prime256v1'
      ? 'ecdsa-p256'
      : details?.namedCurve === 'secp384r1'
        ? 'ecdsa-p384'
        : undefined;
  }
  const type = key.asymmetricKeyType === 'rsa' ? `rsa${details?.modulusLength}` : undefined;
  return KEY_TYPES.find((t) => t === type);
}
