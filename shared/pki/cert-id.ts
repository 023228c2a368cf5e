import { ValidationError } from '../model/errors.js';
import { parseCertificate } from './certificate.js';

/**
 * The RFC 9773 §4.1 certificate identifier used for ARI lookups and the newOrder
 * `replaces` field: base64url(AKI keyIdentifier) "." base64url(serial), unpadded.
 *
 * The serial part is the DER INTEGER's content octets exactly as encoded, so a serial whose
 * first byte is >= 0x80 keeps its leading 0x00 sign byte (RFC 9773 §4.1; the Appendix A
 * example serial 0x87654321 becomes "AIdlQyE"). We read those bytes from the DER rather
 * than rebuilding them from node's hex serial, which drops the sign byte.
 */
export function certId(certPem: string): string {
  const { aki, serialDer } = parseCertificate(certPem);
  if (!aki) {
    throw new ValidationError(
      'certificate',
      'has no Authority Key Identifier keyIdentifier, so it has no RFC 9773 certID',
      'ARI applies to CA-issued certificates, which always carry one; skip ARI for this certificate',
    );
  }
  return `${aki.toString('base64url')}.${serialDer.toString('base64url')}`;
}
