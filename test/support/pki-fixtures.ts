/**
 * The PKI fixtures of the pki tests, made at run time (no key is committed): a root, an
 * intermediate whose Subject Key Identifier is fixed, a leaf with a fixed serial whose top
 * bit is set (so its DER INTEGER carries a 0x00 sign byte), empty subject and DNS + IP
 * SANs, and a self-signed certificate without an Authority Key Identifier. The fixed
 * values make the leaf's RFC 9773 certID a known constant.
 */
import { KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];
type LibKey = x509.X509CertificateCreateWithKeyParams['signingKey'];

export const INTERMEDIATE_SKI = 'ca212aeaf5aa620b38d24dad260b1836fed3a182';
export const LEAF_SERIAL = '8f1e2d3c4b5a6978';
export const NOT_BEFORE = new Date('2026-11-22T10:52:35Z');
const NOT_AFTER = new Date('2126-11-22T10:52:35Z');

export interface PkiFixtures {
  root: string;
  intermediate: string;
  leaf: string;
  leafKey: string;
  noAki: string;
}

const keys = async () =>
  (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
const lib = (key: webcrypto.CryptoKey) => key as unknown as LibKey;
const pem = (cert: x509.X509Certificate) => `${cert.toString('pem').replace(/\r\n/g, '\n').trim()}\n`;

export async function createPkiFixtures(): Promise<PkiFixtures> {
  const [rootKeys, intermediateKeys, leafKeys, loneKeys] = await Promise.all([
    keys(),
    keys(),
    keys(),
    keys(),
  ]);
  const ca = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ];
  const base = { notBefore: NOT_BEFORE, notAfter: NOT_AFTER, signingAlgorithm: ALGORITHM };
  const root = await x509.X509CertificateGenerator.createSelfSigned(
    {
      ...base,
      serialNumber: '01',
      name: 'CN=certkeeper test root',
      keys: rootKeys as unknown as Parameters<
        typeof x509.X509CertificateGenerator.createSelfSigned
      >[0]['keys'],
      extensions: [
        ...ca,
        await x509.SubjectKeyIdentifierExtension.create(lib(rootKeys.publicKey), false, crypto),
      ],
    },
    crypto,
  );
  const intermediate = await x509.X509CertificateGenerator.create(
    {
      ...base,
      serialNumber: '02',
      subject: 'CN=certkeeper test intermediate',
      issuer: root.subject,
      publicKey: lib(intermediateKeys.publicKey),
      signingKey: lib(rootKeys.privateKey),
      extensions: [
        ...ca,
        new x509.SubjectKeyIdentifierExtension(INTERMEDIATE_SKI),
        await x509.AuthorityKeyIdentifierExtension.create(root, false, crypto),
      ],
    },
    crypto,
  );
  const leaf = await x509.X509CertificateGenerator.create(
    {
      ...base,
      serialNumber: LEAF_SERIAL,
      subject: '',
      issuer: intermediate.subject,
      publicKey: lib(leafKeys.publicKey),
      signingKey: lib(intermediateKeys.privateKey),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.AuthorityKeyIdentifierExtension(INTERMEDIATE_SKI),
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: 'www.example.com' },
          { type: 'ip', value: '203.0.113.10' },
          { type: 'ip', value: '2001:db8::1' },
        ]),
      ],
    },
    crypto,
  );
  const noAki = await x509.X509CertificateGenerator.createSelfSigned(
    {
      ...base,
      serialNumber: '03',
      name: 'CN=certkeeper test without AKI',
      keys: loneKeys as unknown as Parameters<
        typeof x509.X509CertificateGenerator.createSelfSigned
      >[0]['keys'],
      extensions: ca,
    },
    crypto,
  );
  const leafKey = KeyObject.from(leafKeys.privateKey).export({ format: 'pem', type: 'pkcs8' }).toString();
  return { root: pem(root), intermediate: pem(intermediate), leaf: pem(leaf), leafKey, noAki: pem(noAki) };
}
