import type { Authority } from '../../shared/authorities/authorities.js';
import type { CertificateAuthority } from '../../shared/acme/ca.js';
import {
  renewCertificate,
  type RenewDeps,
  type RenewOutcome,
} from '../../shared/usecases/renew-certificate.js';

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

/**
 * A forced renewal pass of `name` that holds its lease inside its order until `release()`,
 * then fails there (as a CA refusing the order would): its state write comes after
 * whatever happened meanwhile. Held at the CA's `issue` rather than in a solver, since
 * Pebble may reuse an authorization and ask for no challenge at all.
 */
export function heldPass(
  deps: RenewDeps,
  name: string,
): { inOrder: Promise<void>; release: () => void; done: Promise<RenewOutcome> } {
  let entered!: () => void;
  let release!: () => void;
  const inOrder = new Promise<void>((resolve) => (entered = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const authorities = withIssue(deps.authorities, async () => {
    entered();
    await released;
    throw new Error('held by the test, then failed');
  });
  const done = renewCertificate({ ...deps, authorities }, name, { force: true });
  return { inOrder, release, done };
}
