import type { ChallengeSolver } from '../challenges/solver.js';
import type { Identifier } from '../model/identifiers.js';

/** The steps of one order, reported as they start (for logs and metrics). */
export type OrderStep = 'order' | 'authorize' | 'validate' | 'finalize' | 'download';

export interface OrderRequest {
  identifiers: Identifier[];
  /** ACME profile (draft-ietf-acme-profiles); checked against the directory before ordering. */
  profile?: string;
  /** PKCS#10 PEM naming exactly `identifiers` (see shared/pki createCsr). */
  csrPem: string;
  /** RFC 9773 §5: certID of the certificate this order renews. */
  replaces?: string;
  /**
   * An order from an interrupted attempt (RFC 8555 §7.4). It is continued when it is still
   * pending or ready for the same identifiers and profile, or downloaded when it is valid and
   * its certificate carries this CSR's key; otherwise a new order is placed.
   */
  resumeOrderUrl?: string;
  /** Called right after a new order is created, so the caller can persist its URL. */
  onOrder?(orderUrl: string): Promise<void>;
  /**
   * Called just before finalize (RFC 8555 §7.4), when the CSR commits the order to its key:
   * the caller keeps the key, so a valid order left by an interruption can still be used.
   */
  beforeFinalize?(orderUrl: string): Promise<void>;
  onProgress?(step: OrderStep): void;
}

export interface IssuedCertificate {
  /** Leaf first, then the issuers (RFC 8555 §7.4.2). */
  fullchainPem: string;
  orderUrl: string;
}

/** The parts of an RFC 8555 §7.1.1 directory certkeeper uses. Unknown keys are ignored. */
export interface AcmeDirectoryInfo {
  url: string;
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert: string | undefined;
  keyChange: string | undefined;
  /** RFC 9773 §3: the ARI base URL, when the CA offers renewal information. */
  renewalInfo: string | undefined;
  /** Profile name → description; empty when the CA advertises none. */
  profiles: Record<string, string>;
  termsOfService: string | undefined;
  website: string | undefined;
  caaIdentities: string[];
  externalAccountRequired: boolean;
}

/** RFC 9773 §4.2 RenewalInfo, plus the poll hint from the Retry-After header. */
export interface RenewalInfo {
  suggestedWindow: { start: Date; end: Date };
  explanationURL?: string;
  /** When to ask again (RFC 9773 §4.3), as sent; clamping is the renewal policy's job. */
  retryAfter?: Date;
}

/** What an RFC 9773 §4.2 poll of a certificate's certID gave: the answer, or why there is none. */
export type AriOutcome = { certId: string; info: RenewalInfo } | { certId: string; error: string };

/** RFC 5280 §5.3.1 CRLReason codes accepted by RFC 8555 §7.6 revocation. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

/** Port: an ACME certificate authority, seen from one account. */
export interface CertificateAuthority {
  readonly directoryUrl: string;
  directory(): Promise<AcmeDirectoryInfo>;
  /** Runs one order to a downloaded certificate. Challenges are always cleaned up. */
  issue(request: OrderRequest, solver: ChallengeSolver): Promise<IssuedCertificate>;
  /** RFC 9773 §4.2: unauthenticated GET of `<renewalInfo>/<certID>`. */
  getRenewalInfo(certId: string): Promise<RenewalInfo>;
  /**
   * The URL of our account at this CA (RFC 8555 §7.3), as CAA's `accounturi` names it
   * (RFC 8657 §3). Registers the account when there is none yet, as ordering would.
   */
  accountUrl(): Promise<string>;
  /** RFC 8555 §7.6, signed by the account that ordered the certificate. */
  revoke(certPem: string, reason?: RevocationReason): Promise<void>;
}
