/**
 * A throwaway CA for the agent's tests, made at run time (no key is ever committed): a
 * root, an intermediate, and leaves with chosen names and dates, as a CertificateBundle.
 */
import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { amendState, type Inventory } from '../../shared/inventory/inventory.js';
import { type CertificateSpecInput, parseCertificateSpec } from '../../shared/model/spec.js';
import { manifestKey } from '../../shared/store/layout.js';
import type { CertificateBundle, CertificateStore, ManifestInput } from '../../shared/store/store.js';
import { declareSpec } from '../../shared/usecases/declare-certificates.js';
import { parseCertificate } from '../../shared/pki/index.js';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR = 3_600_000;
const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];
/** The library's (DOM) CryptoKey type; Node's WebCrypto keys are the same objects. */
type LibKey = x509.X509CertificateCreateWithKeyParams['signingKey'];

interface Issuer {
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
}

export interface TestCa {
  /** PEM of the root, for trustedCaFile. */
  rootPem: string;
  /** A leaf under the intermediate, as the store holds it. */
  issue(options: LeafOptions): Promise<IssuedBundle>;
}

export interface LeafOptions {
  identifiers: string[];
  notBefore?: Date;
  notAfter?: Date;
}

export interface IssuedBundle {
  serial: string;
  bundle: CertificateBundle;
  meta: ManifestInput;
}

const newKeys = async (): Promise<webcrypto.CryptoKeyPair> =>
  (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;

/** A positive serial without a sign byte, as CAs write them. */
function serialHex(): string {
  const bytes = randomBytes(12);
  bytes[0] = (bytes[0]! & 0x7f) | 0x10;
  return bytes.toString('hex').toUpperCase();
}

async function sign(
  subject: string,
  keys: webcrypto.CryptoKeyPair,
  issuer: Issuer | undefined,
  extensions: x509.Extension[],
  notBefore: Date,
  notAfter: Date,
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: serialHex(),
      subject,
      issuer: issuer ? issuer.cert.subject : subject,
      notBefore,
      notAfter,
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey as unknown as LibKey,
      signingKey: (issuer?.keys ?? keys).privateKey as unknown as LibKey,
      extensions: [
        ...extensions,
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as LibKey, false, crypto),
      ],
    },
    crypto,
  );
}

const pem = (cert: x509.X509Certificate): string => `${cert.toString('pem').replace(/\r\n/g, '\n').trim()}\n`;

export async function createTestCa(): Promise<TestCa> {
  const now = Date.now();
  const caExtensions = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ];
  const authority = async (name: string, parent: Issuer | undefined): Promise<Issuer> => {
    const keys = await newKeys();
    const validity = [new Date(now - 24 * HOUR), new Date(now + 365 * 24 * HOUR)] as const;
    return {
      keys,
      cert: await sign(`CN=certkeeper agent test ${name}`, keys, parent, caExtensions, ...validity),
    };
  };
  const root = await authority('root', undefined);
  const intermediate = await authority('intermediate', root);
  return {
    rootPem: pem(root.cert),
    async issue({
      identifiers,
      notBefore = new Date(now - HOUR),
      notAfter = new Date(now + 90 * 24 * HOUR),
    }) {
      const keys = await newKeys();
      const leaf = await sign(
        '',
        keys,
        intermediate,
        [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.SubjectAlternativeNameExtension(
            identifiers.map((value) => ({ type: isIP(value) ? 'ip' : 'dns', value })),
          ),
        ],
        notBefore,
        notAfter,
      );
      const cert = pem(leaf);
      const chain = pem(intermediate.cert);
      const info = parseCertificate(cert);
      return {
        serial: info.serialHex,
        bundle: {
          cert,
          chain,
          fullchain: cert + chain,
          privkey: KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString(),
        },
        meta: {
          identifiers,
          profile: undefined,
          keyType: 'ecdsa-p256',
          notBefore: info.notBefore.toISOString(),
          notAfter: info.notAfter.toISOString(),
          issuedAt: info.notBefore.toISOString(),
          certId: undefined,
        },
      };
    },
  };
}

/**
 * What the issuer leaves for `issued`: the certificate declared, the serial's files and
 * manifest stored, the state naming it current.
 */
export async function recordIssued(
  deps: { inventory: Inventory; store: CertificateStore },
  spec: CertificateSpecInput,
  issued: IssuedBundle,
): Promise<void> {
  await declareSpec(deps.inventory, parseCertificateSpec(spec));
  await deps.store.putBundle(spec.name, issued.serial, issued.bundle, issued.meta);
  await amendState(deps.inventory, spec.name, ({ state }) => ({
    ...state,
    status: 'valid',
    current: {
      serial: issued.serial,
      notBefore: issued.meta.notBefore,
      notAfter: issued.meta.notAfter,
      manifestKey: manifestKey(spec.name),
    },
  }));
}
