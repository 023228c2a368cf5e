import type { Authority } from '../../shared/acme/authorities.js';
import type { CertificateAuthority } from '../../shared/acme/ca.js';

/**
 * The authorities with each CA's `issue` replaced (given the real one), and everything else
 * the real CA's: how a test pauses a renewal pass inside its order, before or after the CA
 * issued, without standing in for the CA.
 */
export function withIssue(
  authorities: readonly Authority[],
  issue: (
    inner: CertificateAuthority,
    ...args: Parameters<CertificateAuthority['issue']>
  ) => ReturnType<CertificateAuthority['issue']>,
): Authority[] {
  return authorities.map((a) => ({
    ...a,
    ca: {
      directoryUrl: a.ca.directoryUrl,
      directory: () => a.ca.directory(),
      issue: (request, solver) => issue(a.ca, request, solver),
      getRenewalInfo: (certId) => a.ca.getRenewalInfo(certId),
      accountUrl: () => a.ca.accountUrl(),
      revoke: (pem, reason) => a.ca.revoke(pem, reason),
    },
  }));
}
