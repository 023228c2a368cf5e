import type { Authorization, Client, Order } from 'acme-client';
import { AcmeProblemError, ProfileNotOfferedError, shortProblemType } from '../model/errors.js';
import type { Identifier } from '../model/identifiers.js';
import type { AcmeDirectoryInfo } from './ca.js';

/**
 * How the ACME client (client.ts) reads what the CA says about an order: profiles it
 * offers, refusals of `replaces`, the problem behind an invalid order or authorization, and
 * whether an order found again is the one asked for.
 */

const ALREADY_REPLACED = 'alreadyReplaced';

/** RFC 8555 §6.7 problem as embedded in challenge and order objects. */
type EmbeddedProblem = { type?: string; detail?: string; status?: number };

/** draft-ietf-acme-profiles: fail before ordering when the directory does not list the profile. */
export function checkProfile(profile: string | undefined, dir: AcmeDirectoryInfo): void {
  if (profile === undefined) return;
  const offered = Object.keys(dir.profiles);
  if (offered.length === 0) {
    throw new ProfileNotOfferedError(
      `"${profile}" was requested but the CA at ${dir.url} advertises no profiles`,
      'remove the profile, or use a CA that supports ACME profiles',
    );
  }
  if (!offered.includes(profile)) {
    throw new ProfileNotOfferedError(
      `"${profile}" is not offered by the CA; offered: ${offered.join(', ')}`,
      `use one of: ${offered.join(', ')}`,
    );
  }
}

export function rejectsReplaces(err: unknown): boolean {
  if (!(err instanceof AcmeProblemError)) return false;
  return (
    shortProblemType(err.type) === ALREADY_REPLACED ||
    (err.status !== undefined && err.status >= 500) ||
    /replace/i.test(err.detail)
  );
}

/** The identifier as certkeeper writes it: a wildcard authorization names the base domain. */
export function identifierOf(authz: Authorization): Identifier {
  const value = authz.wildcard ? `*.${authz.identifier.value}` : authz.identifier.value;
  return authz.identifier.type === 'ip' ? { type: 'ip', value } : { type: 'dns', value };
}

export function authorizationProblem(authz: Authorization): AcmeProblemError {
  const failed = authz.challenges.find((c) => c.error !== undefined);
  const problem = failed?.error as EmbeddedProblem | undefined;
  const name = identifierOf(authz).value;
  if (problem?.type) {
    return new AcmeProblemError(
      problem.type,
      `${failed!.type} for ${name} failed: ${problem.detail ?? 'no detail'}`,
      problem.status,
    );
  }
  return new AcmeProblemError(
    'urn:ietf:params:acme:error:unauthorized',
    `the authorization for ${name} is ${authz.status}`,
    undefined,
  );
}

export async function orderProblem(client: Client, order: Order): Promise<AcmeProblemError> {
  // The order's own error names the cause; when absent, a failed authorization does.
  const problem = order.error as EmbeddedProblem | undefined;
  if (problem?.type)
    return new AcmeProblemError(problem.type, problem.detail ?? 'the order is invalid', problem.status);
  const authzs = await client.getAuthorizations(order);
  const failed = authzs.find((a) => a.status === 'invalid');
  if (failed) return authorizationProblem(failed);
  return new AcmeProblemError(
    'urn:ietf:params:acme:error:serverInternal',
    `the order ${order.url} is invalid`,
    undefined,
  );
}

export function sameIdentifiers(
  a: readonly { type: string; value: string }[] | undefined,
  b: readonly { type: string; value: string }[],
): boolean {
  const key = (list: readonly { type: string; value: string }[]): string =>
    list
      .map((i) => `${i.type}:${i.value.toLowerCase()}`)
      .sort()
      .join(',');
  return a !== undefined && key(a) === key(b);
}
