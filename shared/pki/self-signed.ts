import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

export interface SelfSignedOptions {
  /** Each a DNS name or an IP address (written as dNSName or iPAddress SAN). */
  identifiers: readonly string[];
  /** The subject (and issuer) name; empty: none, and the SAN extension is marked critical (RFC 5280 §4.2.1.6). */
  name: string;
  notBefore: Date;
  notAfter: Date;
  /** Extensions besides the SAN. */
  extensions: readonly x509.Extension[];
}

export interface SelfSignedPair {
  certPem: string;
  /** PKCS#8 PEM of a key made for this certificate alone. */
  keyPem: string;
  serial: string;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A self-signed ECDSA P-256 certificate with a fresh key. */
export async function selfSignedPair(options: SelfSignedOptions): Promise<SelfSignedPair> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  // A positive 16-byte serial: the top bit cleared so it needs no DER sign byte.
  const serialBytes = randomBytes(16);
  serialBytes[0] = serialBytes[0]! & 0x7f;
  const serial = serialBytes.toString('hex').toUpperCase();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial,
      name: options.name,
      notBefore: options.notBefore,
      notAfter: options.notAfter,
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        ...options.extensions,
        new x509.SubjectAlternativeNameExtension(
          options.identifiers.map((value) => ({ type: isIP(value) ? 'ip' : 'dns', value })),
          options.name === '',
        ),
      ],
    },
    // Node's WebCrypto; the library's DOM types say the same thing under other names.
    webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1],
  );
  const keyPem = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString();
  return { certPem: `${cert.toString('pem').replace(/\r\n/g, '\n').trim()}\n`, keyPem, serial };
}
