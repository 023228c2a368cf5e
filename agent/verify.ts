import { rootCertificates } from 'node:tls';
import { IntegrityError } from '../shared/model/errors.js';
import {
  type ParsedCertificate,
  keyMatchesCertificate,
  parseCertificate,
  pemBlocks,
  splitPemChain,
  verifyChain,
} from '../shared/pki/index.js';
import type { BundleFile } from '../shared/store/layout.js';
import { sameSerial } from './served.js';

export interface VerifyOptions {
  /** What the leaf must name, exactly (the config's or the inbox's, else the manifest's). */
  identifiers: readonly string[];
  /** Trust anchors (PEM). */
  roots: readonly string[];
  now: Date;
}

/**
 * Everything that must hold before a downloaded bundle may replace what a server serves
 * (the source checked the files against what names them: the manifest's or the inbox's
 * SHA-256). The first failure throws an IntegrityError saying which check and what to do;
 * nothing in a message comes from the key file.
 */
export function verifyBundle(
  offer: { name: string; serial: string },
  files: Record<BundleFile, string>,
  options: VerifyOptions,
): ParsedCertificate {
  const refuse = (problem: string, fix: string): never => {
    throw new IntegrityError(`refused serial ${offer.serial} of ${offer.name}: ${problem}`, fix);
  };
  const refetch =
    'renew the certificate, or restore the objects from a bucket version; the installed one stays';

  const { leaf, chain } = splitPemChain(files.fullchain);
  // cert.pem and chain.pem are installed too: they must be the same certificates.
  if (pemBlocks(files.cert, 'CERTIFICATE').join('') !== leaf) {
    refuse('cert.pem is not the first certificate of fullchain.pem', refetch);
  }
  if (pemBlocks(files.chain, 'CERTIFICATE').join('') !== chain.join('')) {
    refuse('chain.pem is not the rest of fullchain.pem', refetch);
  }
  const parsed = parseCertificate(leaf);
  if (!sameSerial(parsed.serialHex, offer.serial)) {
    refuse(`the certificate's serial is ${parsed.serialHex}, not the one offered`, refetch);
  }
  if (!keyMatchesCertificate(files.privkey, leaf)) {
    refuse('the private key does not belong to the certificate', refetch);
  }
  if (parsed.notAfter <= options.now || parsed.notBefore > options.now) {
    refuse(
      parsed.notAfter <= options.now
        ? `the certificate expired at ${parsed.notAfter.toISOString()}`
        : `the certificate is not valid before ${parsed.notBefore.toISOString()}`,
      "check that the issuer renews it (its state and events) and that this server's clock is right (NTP)",
    );
  }
  try {
    verifyChain(leaf, chain, options.roots, options.now);
  } catch (err) {
    refuse(
      (err as Error).message,
      'if the CA is private (or a test CA), put its root in the file trustedCaFile names; otherwise fetch the bundle again',
    );
  }
  const names = [...parsed.dnsNames, ...parsed.ipAddresses];
  const want = normalise(options.identifiers);
  const got = normalise(names);
  if (want.join(',') !== got.join(',')) {
    refuse(
      `the certificate names ${got.join(', ') || 'nothing'}, expected ${want.join(', ')}`,
      'make certificates.<name>.identifiers in the agent config match the certificate declared in the stack',
    );
  }
  return parsed;
}

/** DNS names compare case-insensitively; order and duplicates do not matter. */
const normalise = (names: readonly string[]): string[] =>
  [...new Set(names.map((n) => n.toLowerCase()))].sort();

/** Node's bundled Mozilla roots plus those in `extraPem` (a private or test CA). */
export function trustedRoots(extraPem: string | undefined): string[] {
  return [...rootCertificates, ...(extraPem ? pemBlocks(extraPem, 'CERTIFICATE') : [])];
}
