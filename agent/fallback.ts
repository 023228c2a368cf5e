import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

/** Long enough to carry a service over a weekend outage; short, so nobody settles for it. */
export const FALLBACK_VALIDITY_MS = 4 * 24 * 3600 * 1000;

export interface SelfSigned {
  certPem: string;
  keyPem: string;
  serial: string;
  notAfter: Date;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/**
 * A self-signed ECDSA P-256 certificate for the identifiers (DNS and IP SANs), so a service
 * whose certificate is missing or expired can start at all. Clients will (rightly) not trust
 * it; the agent replaces it with the CA's certificate as soon as one verifies.
 */
export async function selfSignedCertificate(
  identifiers: readonly string[],
  now: Date,
  validityMs = FALLBACK_VALIDITY_MS,
): Promise<SelfSigned> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  // A positive 16-byte serial: the top bit cleared so it needs no DER sign byte.
  const serialBytes = randomBytes(16);
  serialBytes[0] = serialBytes[0]! & 0x7f;
  const serial = serialBytes.toString('hex').toUpperCase();
  const notAfter = new Date(now.getTime() + validityMs);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial,
      name: 'CN=certkeeper fallback (self-signed)',
      // An hour back, so a server whose clock is a little behind still accepts it.
      notBefore: new Date(now.getTime() - 3600 * 1000),
      notAfter,
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          identifiers.map((value) => ({ type: isIP(value) ? 'ip' : 'dns', value })),
        ),
      ],
    },
    // Node's WebCrypto; the library's DOM types say the same thing under other names.
    webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1],
  );
  const keyPem = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString();
  return { certPem: `${cert.toString('pem').replace(/\r\n/g, '\n').trim()}\n`, keyPem, serial, notAfter };
}
