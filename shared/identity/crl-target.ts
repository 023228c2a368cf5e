/**
 * Port: where the agents' CRL is published so that it takes effect - IAM Roles Anywhere,
 * which checks every CreateSession against the CRL imported for the trust anchor
 * (rolesanywhere-crl.ts).
 */
export interface CrlTarget {
  /** The CRL published now (PEM), undefined before the first. */
  current(): Promise<{ id: string; pem: string } | undefined>;
  /** Replaces the CRL `id`, or publishes the first one. */
  publish(id: string | undefined, pem: string): Promise<void>;
}
