import { type KeyObject, createPublicKey, sign } from 'node:crypto';
import {
  contextConstructed,
  encodeBitString,
  encodeSequence,
  encodeSmallInteger,
  encodeTlv,
} from '../pki/der.js';
import { signatureAlgorithm } from '../pki/csr.js';
import { encodeName } from './x509.js';

/**
 * The request an agent sends to enrol or renew its identity (RFC 2986): subject
 * O=certkeeper, CN=<agent name>, its public key, no attributes. The CA takes the key and
 * checks the name (csr-check.ts); the rest of the certificate is the CA's.
 */
export function agentCsr(agent: string, key: KeyObject): string {
  const { digest, algorithm } = signatureAlgorithm(key);
  const info = encodeSequence(
    encodeSmallInteger(0),
    encodeName(agent),
    createPublicKey(key).export({ type: 'spki', format: 'der' }),
    encodeTlv(contextConstructed(0)), // attributes: none
  );
  const der = encodeSequence(info, algorithm, encodeBitString(sign(digest, info, key)));
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE REQUEST-----\n`;
}
