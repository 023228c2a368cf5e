import { revokedSerials } from '../agents/records.js';
import type { AgentRegistry } from '../agents/registry.js';
import type { CrlTarget } from '../identity/crl-target.js';
import type { CaSigner } from '../identity/signer.js';
import { certificateRevocationList, readCrl } from '../identity/x509.js';
import { type Clock, DAY } from '../model/clock.js';
import type { Log } from '../model/log.js';

/**
 * Publishes the agents' CRL when what it must revoke changed (an agent removed or
 * re-enrolled), and at least weekly so it never reaches its nextUpdate: a removed agent's
 * identity then stops working at its next CreateSession. Idempotent, cheap when nothing
 * changed (one read of the published CRL); runs on every fleet tick and after `agent remove`.
 */
export interface CrlDeps {
  registry: AgentRegistry;
  signer: CaSigner;
  caCertificate: string;
  target: CrlTarget;
  clock: Clock;
  log: Log;
}

const VALIDITY_MS = 30 * DAY;
const REFRESH_BEFORE_MS = 23 * DAY;

export async function publishAgentCrl(deps: CrlDeps): Promise<{ published: boolean; revoked: number }> {
  const now = deps.clock.now();
  const revoked = revokedSerials(await deps.registry.list(), now);
  const current = await deps.target.current();
  const published = current && readCrl(current.pem);
  const same =
    published !== undefined &&
    // Both sides canonical: readCrl's, and the registry's (its schema stores them so).
    published.serials.join(',') === revoked.map((r) => r.serial).join(',') &&
    published.nextUpdate !== undefined &&
    published.nextUpdate.getTime() - now.getTime() > VALIDITY_MS - REFRESH_BEFORE_MS;
  if (same) return { published: false, revoked: revoked.length };
  const pem = await certificateRevocationList(deps.signer, deps.caCertificate, {
    number: (published?.number ?? 0) + 1,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + VALIDITY_MS),
    revoked: revoked.map((r) => ({ serial: r.serial, at: new Date(r.at) })),
  });
  await deps.target.publish(current?.id, pem);
  deps.log.info('agents CRL published', {
    revoked: revoked.length,
    agents: [...new Set(revoked.map((r) => r.agent))],
  });
  return { published: true, revoked: revoked.length };
}
