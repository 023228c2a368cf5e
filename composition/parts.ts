import { AcmeAccounts } from '../shared/acme/account.js';
import type { CertificateAuthority } from '../shared/acme/ca.js';
import { AcmeCertificateAuthority } from '../shared/acme/client.js';
import { AcmeTransport } from '../shared/acme/transport.js';
import type { Authority } from '../shared/authorities/authorities.js';
import type { Dns01Solver } from '../shared/challenges/dns01/solver.js';
import { solverSelector } from '../shared/challenges/select.js';
import type { ChallengeSolver } from '../shared/challenges/solver.js';
import type { CaSettings } from '../shared/model/cas.js';
import type { Clock } from '../shared/model/clock.js';
import type { Log } from '../shared/model/log.js';
import type { CertificateSpec } from '../shared/model/spec.js';
import type { ObjectStore } from '../shared/store/store.js';

/**
 * The parts the AWS (aws-issuer.ts) and the local (local.ts) compositions both build the
 * renewal from, so the two differ only in the adapters they pass in.
 */

/** The ACME transport over the composition's clock, and the accounts kept in `objects` that use it. */
export function acmeAccountsFor(objects: ObjectStore, clock: Clock): AcmeAccounts {
  return new AcmeAccounts(objects, { clock, transport: new AcmeTransport({ clock }) });
}

export interface AuthorityParts {
  /** One account per CA, each kept under its directory's host. */
  accounts: AcmeAccounts;
  /** PEM trusted for the CAs' HTTPS (a private CA such as Pebble); the system roots otherwise. */
  caPem?: string | undefined;
  clock: Clock;
  log: Log;
  /** Wraps each CA (local mode reports the order's steps and runs its pre-hook). */
  wrap?: (ca: CertificateAuthority) => CertificateAuthority;
}

/** The CAs, preferred first, each an ACME client over the shared accounts. */
export function authoritiesFor(cas: readonly CaSettings[], parts: AuthorityParts): Authority[] {
  return cas.map((settings) => {
    const ca = new AcmeCertificateAuthority({
      directoryUrl: settings.directoryUrl,
      accounts: parts.accounts,
      email: settings.contact,
      eab:
        settings.eab?.hmacKey !== undefined
          ? { kid: settings.eab.kid, hmacKey: settings.eab.hmacKey }
          : undefined,
      caPem: parts.caPem,
      clock: parts.clock,
      warn: (message, extra) => parts.log.warn(message, extra),
    });
    return { name: settings.name, settings, ca: parts.wrap ? parts.wrap(ca) : ca };
  });
}

export interface SolverParts {
  /** DNS-01, bound to each certificate's own zone (its hostedZoneId) when it names one. */
  dns01?: Dns01Solver | undefined;
  http01?: ChallengeSolver | undefined;
  tlsAlpn01?: ChallengeSolver | undefined;
}

/** The solver for a certificate's challenge type; undefined when this composition has none. */
export function solversFor(parts: SolverParts): (spec: CertificateSpec) => ChallengeSolver | undefined {
  return solverSelector({
    'dns-01': (spec) => parts.dns01?.withHostedZone(spec.hostedZoneId),
    'http-01': () => parts.http01,
    'tls-alpn-01': () => parts.tlsAlpn01,
  });
}
