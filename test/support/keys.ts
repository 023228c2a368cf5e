import { generateKey } from '../../shared/pki/index.js';

/**
 * A real private key, made at run time, for tests of the guards that must refuse key
 * material (events, alert texts): nothing key-shaped is committed, and the test proves the
 * guard catches an actual PKCS#8 PEM. `secret` is a piece of its body that must never be
 * echoed back in an error.
 */
export function leakedKey(): { pem: string; secret: string } {
  const pem = generateKey('ecdsa-p256');
  const body = pem.split('\n')[1]!;
  return { pem, secret: body.slice(8, 40) };
}
