import * as x509 from '@peculiar/x509';
import { selfSignedPair } from '../shared/pki/self-signed.js';

/** Long enough to carry a service over a weekend outage; short, so nobody settles for it. */
export const FALLBACK_VALIDITY_MS = 4 * 24 * 3600 * 1000;

export interface SelfSigned {
  certPem: string;
  keyPem: string;
  serial: string;
  notAfter: Date;
}

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
  const notAfter = new Date(now.getTime() + validityMs);
  const pair = await selfSignedPair({
    identifiers,
    name: 'CN=certkeeper fallback (self-signed)',
    // An hour back, so a server whose clock is a little behind still accepts it.
    notBefore: new Date(now.getTime() - 3600 * 1000),
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  return { ...pair, notAfter };
}
