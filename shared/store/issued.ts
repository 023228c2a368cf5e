import { IntegrityError } from '../model/errors.js';
import { identifierValues } from '../model/identifiers.js';
import type { CertificateSpec } from '../model/spec.js';
import { certId, keyMatchesCertificate, parseCertificate, splitPemChain } from '../pki/index.js';
import type { CertificateStore, Manifest, PutBundleOptions } from './store.js';

/**
 * Stores what the CA issued with the key it was issued for, and returns the manifest now
 * current. The CA returned a certificate for the CSR we sent; checking the pair first keeps
 * a mismatched bundle from ever being written (RFC 8555 §7.4.2).
 */
export async function storeIssuedBundle(
  store: CertificateStore,
  spec: CertificateSpec,
  keyPem: string,
  fullchain: string,
  now: Date,
  /** The CA that issued it, named in the manifest. */
  ca?: string,
  options: PutBundleOptions = {},
): Promise<Manifest> {
  const { leaf, chain } = splitPemChain(fullchain);
  if (!keyMatchesCertificate(keyPem, leaf)) {
    throw new IntegrityError('the issued certificate does not match the generated key', 'retry the renewal');
  }
  const info = parseCertificate(leaf);
  return store.putBundle(
    spec.name,
    info.serialHex,
    { cert: leaf, chain: chain.join(''), fullchain, privkey: keyPem },
    {
      identifiers: identifierValues(spec.identifiers),
      profile: spec.profile,
      keyType: spec.keyType,
      notBefore: info.notBefore.toISOString(),
      notAfter: info.notAfter.toISOString(),
      issuedAt: now.toISOString(),
      certId: certIdOrUndefined(leaf),
      ...(ca ? { ca } : {}),
    },
    options,
  );
}

function certIdOrUndefined(leaf: string): string | undefined {
  // A leaf without an Authority Key Identifier has no RFC 9773 certID; ARI is skipped for it.
  try {
    return certId(leaf);
  } catch {
    return undefined;
  }
}
