/** PKI helpers: keys, CSRs, certificate parsing and checks, RFC 9773 certIDs. */
export { generateKey, keyTypeOf } from './private-keys.js';
export { createCsr, csrPublicKey } from './csr.js';
export {
  type ParsedCertificate,
  certificateMatchesCsr,
  keyMatchesCertificate,
  parseCertificate,
  verifyChain,
} from './certificate.js';
export { pemBlocks, pemToDer, splitPemChain } from './pem.js';
export { certId } from './cert-id.js';
export { sha256Hex } from './hash.js';
