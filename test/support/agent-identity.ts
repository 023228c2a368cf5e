/**
 * Agent identities for the IAM Roles Anywhere tests, made at run time (no key is ever
 * committed): a CA shaped like certkeeper's agents' CA (EC P-256), client certificates
 * shaped like the ones it issues (subject CN = the agent name, EC P-256, basicConstraints
 * CA:false, keyUsage digitalSignature, extendedKeyUsage clientAuth), and CRLs it signs.
 */
import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR = 3_600_000;
const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];
type LibKey = x509.X509CertificateCreateWithKeyParams['signingKey'];

export interface AgentIdentity {
  readonly name: string;
  readonly certificatePem: string;
  /** PKCS #8 PEM. */
  readonly keyPem: string;
  /** Intermediates (when the CA has one), PEM each. */
  readonly chainPem: string[];
  /** Upper-case hex, as @peculiar/x509 writes it. */
  readonly serialHex: string;
  /** Decimal, as the SigV4-X509 Credential field carries it. */
  readonly serialDecimal: string;
}

export interface IdentityOptions {
  notBefore?: Date;
  notAfter?: Date;
  /** A subjectAltName dNSName, to see x509SAN/DNS mapped. */
  dnsName?: string;
  /** Extra subject RDNs after the CN, e.g. "OU=edge". */
  subjectSuffix?: string;
}

export interface AgentCa {
  readonly name: string;
  readonly certPem: string;
  issue(agentName: string, options?: IdentityOptions): Promise<AgentIdentity>;
  /** A CRL (PEM) of this CA listing the given serials (hex). */
  crl(revokedSerialsHex: readonly string[]): Promise<string>;
}

const pem = (value: { toString(format: 'pem'): string }): string =>
  `${value.toString('pem').replace(/\r\n/g, '\n').trim()}\n`;

const newKeys = async (): Promise<webcrypto.CryptoKeyPair> =>
  (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;

/** A positive serial with its top bit set in the second byte: exercises big decimal serials. */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex').toUpperCase();
}

/**
 * A CA for agent identities. With `intermediate`, leaves are issued by an intermediate
 * under the root (the trust anchor), and carry it as their chain.
 */
export async function createAgentCa(
  label: string,
  options: { intermediate?: boolean } = {},
): Promise<AgentCa> {
  const now = Date.now();
  const rootKeys = await newKeys();
  const rootName = `CN=${label} agents CA ${randomBytes(3).toString('hex')}, O=certkeeper test`;
  const caExtensions = async (keys: webcrypto.CryptoKeyPair) => [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as LibKey, false, crypto),
  ];
  const root = await x509.X509CertificateGenerator.create(
    {
      serialNumber: newSerial(),
      subject: rootName,
      issuer: rootName,
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + 30 * 24 * HOUR),
      signingAlgorithm: ALGORITHM,
      publicKey: rootKeys.publicKey as unknown as LibKey,
      signingKey: rootKeys.privateKey as unknown as LibKey,
      extensions: await caExtensions(rootKeys),
    },
    crypto,
  );
  let issuer = { cert: root, keys: rootKeys };
  const chain: string[] = [];
  if (options.intermediate) {
    const keys = await newKeys();
    const cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: newSerial(),
        subject: `CN=${label} agents intermediate, O=certkeeper test`,
        issuer: root.subject,
        notBefore: new Date(now - HOUR),
        notAfter: new Date(now + 30 * 24 * HOUR),
        signingAlgorithm: ALGORITHM,
        publicKey: keys.publicKey as unknown as LibKey,
        signingKey: rootKeys.privateKey as unknown as LibKey,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as LibKey, false, crypto),
        ],
      },
      crypto,
    );
    issuer = { cert, keys };
    chain.push(pem(cert));
  }

  return {
    name: root.subject,
    certPem: pem(root),
    async issue(agentName, opts = {}) {
      const keys = await newKeys();
      const serialHex = newSerial();
      const extensions: x509.Extension[] = [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(issuer.cert, false, crypto),
      ];
      if (opts.dnsName)
        extensions.push(new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: opts.dnsName }]));
      const cert = await x509.X509CertificateGenerator.create(
        {
          serialNumber: serialHex,
          subject: `CN=${agentName}${opts.subjectSuffix ? `, ${opts.subjectSuffix}` : ''}`,
          issuer: issuer.cert.subject,
          notBefore: opts.notBefore ?? new Date(Date.now() - 60_000),
          notAfter: opts.notAfter ?? new Date(Date.now() + 24 * HOUR),
          signingAlgorithm: ALGORITHM,
          publicKey: keys.publicKey as unknown as LibKey,
          signingKey: issuer.keys.privateKey as unknown as LibKey,
          extensions,
        },
        crypto,
      );
      return {
        name: agentName,
        certificatePem: pem(cert),
        keyPem: KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString(),
        chainPem: [...chain],
        serialHex,
        serialDecimal: BigInt(`0x${serialHex}`).toString(10),
      };
    },
    async crl(revoked) {
      const crl = await x509.X509CrlGenerator.create(
        {
          issuer: root.subject,
          thisUpdate: new Date(Date.now() - 60_000),
          nextUpdate: new Date(Date.now() + 24 * HOUR),
          signingAlgorithm: ALGORITHM,
          signingKey: rootKeys.privateKey as unknown as LibKey,
          entries: revoked.map((serialNumber) => ({
            serialNumber,
            revocationDate: new Date(Date.now() - 1000),
          })),
        },
        crypto,
      );
      // RFC 7468 §5 labels a CRL "X509 CRL" (as openssl does); the library writes "CRL".
      return pem(crl).replace(/-----(BEGIN|END) CRL-----/g, '-----$1 X509 CRL-----');
    },
  };
}

/** Writes the identity where aws_signing_helper reads it: certificate, key, intermediates. */
export function writeIdentityFiles(
  dir: string,
  identity: AgentIdentity,
): { certificate: string; privateKey: string; intermediates: string | undefined } {
  mkdirSync(dir, { recursive: true });
  const files = {
    certificate: join(dir, `${identity.name}.crt`),
    privateKey: join(dir, `${identity.name}.key`),
    intermediates: identity.chainPem.length > 0 ? join(dir, `${identity.name}.chain.pem`) : undefined,
  };
  writeFileSync(files.certificate, identity.certificatePem);
  writeFileSync(files.privateKey, identity.keyPem, { mode: 0o600 });
  if (files.intermediates) writeFileSync(files.intermediates, identity.chainPem.join(''));
  return files;
}
