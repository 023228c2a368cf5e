import type { Authorization, Client, Order } from 'acme-client';
import type { Challenge, ChallengeSolver } from '../challenges/solver.js';
import { ValidationError } from '../model/errors.js';
import type { OrderStep } from './ca.js';
import { authorizationProblem, identifierOf } from './order-answers.js';

/**
 * An order's authorizations (RFC 8555 §7.5): each pending one's challenge of the solver's
 * type presented, answered, and waited for; the responses taken down afterwards.
 */
export interface ChallengeParts {
  progress(step: OrderStep): void;
  /** The Retry-After that came with an answer (transport.ts). */
  retryAfterOf(body: unknown): number | undefined;
  waitValid(client: Client, authz: Authorization, retryAfterMs: number | undefined): Promise<Authorization>;
  /** Failures that must not fail the order (a cleanup). */
  warn(message: string, extra: Record<string, unknown>): void;
}

export async function authorize(
  client: Client,
  order: Order,
  solver: ChallengeSolver,
  parts: ChallengeParts,
  cleanups: Promise<void>[],
): Promise<void> {
  const work: { authz: Authorization; challenge: Authorization['challenges'][number]; port: Challenge }[] =
    [];
  for (const authz of await client.getAuthorizations(order)) {
    // Authorizations the account already holds (authz reuse, RFC 8555 §7.1.4) need nothing.
    if (authz.status === 'valid') continue;
    if (authz.status !== 'pending') throw authorizationProblem(authz);
    const challenge = authz.challenges.find((c) => c.type === solver.type);
    const identifier = identifierOf(authz);
    if (!challenge) {
      throw new ValidationError(
        'challenge',
        `the CA offers no ${solver.type} challenge for ${identifier.value} (offered: ${authz.challenges.map((c) => c.type).join(', ')})`,
        identifier.type === 'ip'
          ? 'IP addresses are validated with http-01 or tls-alpn-01 (RFC 8738 §7)'
          : 'choose a challenge type the CA offers for this identifier',
      );
    }
    // http-01: the key authorization (RFC 8555 §8.3); dns-01: its SHA-256 digest (§8.4);
    // tls-alpn-01: that digest inside the validation certificate (RFC 8737 §3).
    const value = await client.getChallengeKeyAuthorization(challenge);
    work.push({ authz, challenge, port: { type: solver.type, identifier, token: challenge.token, value } });
  }
  if (work.length === 0) return;

  const challenges = work.map((w) => w.port);
  let validated = false;
  try {
    await solver.present(challenges);
    await solver.waitReady(challenges);
    parts.progress('validate');
    // No acme-client verifyChallenge: its self-checks cannot reach IP identifiers, and the
    // solver's waitReady already proved the response is published.
    const answered = new Map<(typeof work)[number], number | undefined>();
    for (const w of work) {
      if (w.challenge.status === 'pending') {
        answered.set(w, parts.retryAfterOf(await client.completeChallenge(w.challenge)));
      }
    }
    await Promise.all(work.map((w) => parts.waitValid(client, w.authz, answered.get(w))));
    validated = true;
  } finally {
    const cleanup = solver.cleanup(challenges).catch((err: unknown) => {
      // The certificate can still be issued; a leftover token or TXT value is harmless.
      parts.warn('challenge cleanup failed', { error: err instanceof Error ? err.message : String(err) });
    });
    // Valid authorizations are final (RFC 8555 §7.1.6): the CA will not look again, so the
    // responses are removed while the order is finalized; the order waits for it at its end.
    if (validated) cleanups.push(cleanup);
    else await cleanup;
  }
}

/**
 * Takes down the responses to an order's challenges for this solver's type (cleanup is
 * idempotent, so ones already gone cost nothing). Never fails the order: a leftover
 * response is harmless to the certificate.
 */
export async function cleanupValidated(
  client: Client,
  order: Order,
  solver: ChallengeSolver,
  parts: Pick<ChallengeParts, 'warn'>,
): Promise<void> {
  try {
    const challenges: Challenge[] = [];
    for (const authz of await client.getAuthorizations(order)) {
      const challenge = authz.challenges.find((c) => c.type === solver.type);
      if (!challenge) continue;
      const value = await client.getChallengeKeyAuthorization(challenge);
      challenges.push({
        type: solver.type,
        identifier: identifierOf(authz),
        token: challenge.token,
        value,
      });
    }
    if (challenges.length > 0) await solver.cleanup(challenges);
  } catch (err) {
    parts.warn('challenge cleanup failed', { error: err instanceof Error ? err.message : String(err) });
  }
}
