import { execFileSync } from 'node:child_process';
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

/**
 * A certificate request as a user makes one for `issue --csr`: their own P-256 key (made by
 * openssl at run time, written to `keyPath`), no subject, the names in subjectAltName
 * (e.g. "IP:127.0.0.1").
 */
export function userCsr(keyPath: string, csrPath: string, subjectAltName: string): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      csrPath,
      '-subj',
      '/',
      '-addext',
      `subjectAltName=${subjectAltName}`,
    ],
    { stdio: 'ignore' },
  );
}
