/**
 * What the stand-in checks about the signing certificate once its signature verified, and
 * what it reads from it, as AWS documents IAM Roles Anywhere:
 * - end-entity constraints ("IAM Roles Anywhere trust model"): X.509 v3, basic constraints
 *   CA:false, key usage including digitalSignature, signed with SHA-256 or stronger;
 * - a chain (X-Amz-X509-Chain) leading to the trust anchor's CA, every certificate valid now;
 * - not revoked by an enabled CRL imported for that trust anchor (ImportCrl);
 * - the session's principal tags ("Certificate attribute mapping", default mapping) and
 *   source identity (the subject's CN, "trust model").
 */
import type { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Crl, TrustAnchor } from './control-plane.js';
import { accessDenied } from './http.js';

/** RDNs mapped to tags: those the AWS docs name for x509Subject/x509Issuer (C, O, OU, ST, L, CN) and UID. */
const RDNS = ['C', 'CN', 'L', 'O', 'OU', 'ST', 'UID'] as const;
const STRONG_HASHES = new Set(['SHA-256', 'SHA-384', 'SHA-512']);

export const serialOf = (cert: X509Certificate): string => BigInt(`0x${cert.serialNumber}`).toString(10);

/** Throws AccessDeniedException, with AWS's wording where it is known, when the certificate is refused. */
export function checkCertificate(
  leaf: X509Certificate,
  chain: readonly X509Certificate[],
  anchor: TrustAnchor,
  crls: readonly Crl[],
  now: Date,
): void {
  checkEndEntity(leaf);
  if (now < new Date(leaf.validFrom)) {
    throw accessDenied(`Certificate not yet valid (notBefore ${new Date(leaf.validFrom).toISOString()})`);
  }
  if (now > new Date(leaf.validTo)) {
    throw accessDenied(`Certificate expired (notAfter ${new Date(leaf.validTo).toISOString()})`);
  }
  const path = pathToAnchor(leaf, chain, anchor.certificate, now);
  for (const cert of path) {
    const revoked = crls.some(
      (crl) =>
        crl.enabled &&
        crl.trustAnchorArn === anchor.trustAnchorArn &&
        crl.issuer === cert.issuer &&
        crl.revoked.has(serialOf(cert)),
    );
    if (revoked) throw accessDenied('Certificate revoked');
  }
}

function checkEndEntity(leaf: X509Certificate): void {
  const cert = new x509.X509Certificate(leaf.raw);
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (!basic || basic.ca) {
    throw accessDenied('Untrusted signing certificate: basic constraints must be present with CA:false');
  }
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension);
  if (!keyUsage || (keyUsage.usages & x509.KeyUsageFlags.digitalSignature) === 0) {
    throw accessDenied('Untrusted signing certificate: key usage must include digitalSignature');
  }
  const hash = (cert.signatureAlgorithm as { hash?: { name?: string } }).hash?.name;
  if (!hash || !STRONG_HASHES.has(hash)) {
    throw accessDenied('Untrusted signing certificate: it must be signed with SHA-256 or stronger');
  }
}

/** The certificates from the leaf up to (not including) the anchor, or "Untrusted signing certificate". */
function pathToAnchor(
  leaf: X509Certificate,
  chain: readonly X509Certificate[],
  anchor: X509Certificate,
  now: Date,
): X509Certificate[] {
  const valid = (c: X509Certificate) => now >= new Date(c.validFrom) && now <= new Date(c.validTo);
  const issues = (issuer: X509Certificate, cert: X509Certificate) =>
    cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  if (!valid(anchor))
    throw accessDenied('Untrusted signing certificate: the trust anchor certificate is not valid now');
  const path = [leaf];
  for (let current = leaf; ;) {
    if (issues(anchor, current)) return path;
    const next = chain.find((c) => c.ca && valid(c) && issues(c, current) && !path.includes(c));
    if (!next) throw accessDenied('Untrusted signing certificate');
    path.push(next);
    current = next;
  }
}

/** The principal tags of the default attribute mapping. */
export function principalTags(leaf: X509Certificate): Record<string, string> {
  const cert = new x509.X509Certificate(leaf.raw);
  const tags: Record<string, string> = {};
  const rdns = (prefix: string, name: x509.Name) => {
    for (const rdn of RDNS) {
      const value = name.getField(rdn)[0];
      if (value !== undefined) tags[`${prefix}/${rdn}`] = value;
    }
  };
  rdns('x509Subject', cert.subjectName);
  rdns('x509Issuer', cert.issuerName);
  // x509SAN: the first DNS name, the first URI, the first directory name's RDNs.
  const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  const dns = names.find((n) => n.type === 'dns');
  const uri = names.find((n) => n.type === 'url');
  const dn = names.find((n) => n.type === 'dn');
  if (dns) tags['x509SAN/DNS'] = dns.value;
  if (uri) tags['x509SAN/URI'] = uri.value;
  if (dn) rdns('x509SAN/Name', new x509.Name(dn.value));
  return tags;
}

/** The session's source identity: the subject's common name. */
export function commonName(leaf: X509Certificate): string | undefined {
  return new x509.X509Certificate(leaf.raw).subjectName.getField('CN')[0];
}
