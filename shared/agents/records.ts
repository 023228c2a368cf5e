import { type AgentIdentity, type AgentRecord, type AgentSelector, canonicalSerial } from '../model/agent.js';
import { CertkeeperError, ConflictError, NotFoundError } from '../model/errors.js';
import { tokenMatches } from './token.js';

/**
 * What happens to an agent's record, pure: registration, tokens, joining, identity renewal
 * and removal. The use cases read and write the registry around these; the rules are here.
 */

/** Why an enrolment or identity request was refused; `reason` is stable for scripts and tests. */
export type RefusalReason =
  | 'unknown-agent'
  | 'removed'
  | 'no-token'
  | 'token-mismatch'
  | 'token-used'
  | 'token-expired'
  | 'not-current-identity'
  | 'identity-expired'
  | 'clock-skew'
  | 'bad-request';

export class EnrolmentRefusedError extends CertkeeperError {
  constructor(
    readonly reason: RefusalReason,
    message: string,
    fix: string,
  ) {
    super('validation', message, { fix, retryable: false });
  }
}

export function newAgentRecord(
  name: string,
  selector: AgentSelector,
  source: AgentRecord['source'],
  now: Date,
): AgentRecord {
  const at = now.toISOString();
  return { version: 1, name, selector, source, status: 'pending', createdAt: at, updatedAt: at, revoked: [] };
}

/** A new one-time token for the agent; an unused earlier one stops working. */
export function withEnrolmentToken(
  record: AgentRecord,
  tokenSha256: string,
  now: Date,
  expiresAt: Date,
): AgentRecord {
  if (record.status === 'removed') {
    throw new ConflictError(`agent ${record.name} was removed; add it again to enrol it anew`);
  }
  const at = now.toISOString();
  return {
    ...record,
    enrolment: { tokenSha256, issuedAt: at, expiresAt: expiresAt.toISOString() },
    updatedAt: at,
  };
}

const NEW_TOKEN = (name: string) => `ask the operator for a new token: certkeeper agent token ${name}`;

/** Joins and renewals are for agents in the registry that were not removed. */
function requireEnrollable(record: AgentRecord | undefined, name: string): asserts record is AgentRecord {
  if (!record) {
    throw new EnrolmentRefusedError(
      'unknown-agent',
      `agent ${name} is not in the registry`,
      `add it first: certkeeper agent add ${name} --certificates ... (or --labels ...), then agent join on the server`,
    );
  }
  if (record.status === 'removed') {
    throw new EnrolmentRefusedError(
      'removed',
      `agent ${name} was removed; its identity is revoked`,
      `add it again (certkeeper agent add ${name} ...) and join with the new token if this server should receive certificates`,
    );
  }
}

/** Refuses a join whose token is not this agent's valid, unused token; says which. */
export function checkJoin(
  record: AgentRecord | undefined,
  name: string,
  secret: string,
  now: Date,
): AgentRecord {
  requireEnrollable(record, name);
  const token = record.enrolment;
  if (!token)
    throw new EnrolmentRefusedError('no-token', `agent ${name} has no enrolment token`, NEW_TOKEN(name));
  if (!tokenMatches(secret, token.tokenSha256)) {
    throw new EnrolmentRefusedError(
      'token-mismatch',
      `the token is not agent ${name}'s current enrolment token (another agent's, or replaced by a newer one)`,
      NEW_TOKEN(name),
    );
  }
  if (token.usedAt) {
    throw new EnrolmentRefusedError(
      'token-used',
      `agent ${name}'s enrolment token was already used at ${token.usedAt}; tokens work once`,
      NEW_TOKEN(name),
    );
  }
  if (Date.parse(token.expiresAt) <= now.getTime()) {
    throw new EnrolmentRefusedError(
      'token-expired',
      `agent ${name}'s enrolment token expired at ${token.expiresAt}`,
      NEW_TOKEN(name),
    );
  }
  return record;
}

/**
 * Joined: the token is spent, the new identity is current, and an identity the agent held
 * before (a re-enrolment) is revoked: whoever holds its key is not this server any more.
 */
export function joinedRecord(
  record: AgentRecord,
  identity: AgentIdentity,
  deliveryKey: string,
  now: Date,
): AgentRecord {
  const at = now.toISOString();
  return {
    ...record,
    status: 'active',
    enrolment: record.enrolment && { ...record.enrolment, usedAt: at },
    identity,
    deliveryKey,
    revoked: withRevoked(record.revoked, record.identity, now),
    updatedAt: at,
  };
}

/** An identity renewal must present the current identity of an active agent. */
export function checkRenewal(
  record: AgentRecord | undefined,
  name: string,
  serial: string,
  now: Date,
): AgentRecord {
  requireEnrollable(record, name);
  if (!record.identity || canonicalSerial(record.identity.serial) !== canonicalSerial(serial)) {
    throw new EnrolmentRefusedError(
      'not-current-identity',
      `serial ${serial} is not agent ${name}'s current identity${record.identity ? ` (${record.identity.serial})` : ''}`,
      `join again with a new token: certkeeper agent token ${name}, then certkeeper agent join <token> on the server`,
    );
  }
  if (Date.parse(record.identity.notAfter) <= now.getTime()) {
    throw new EnrolmentRefusedError(
      'identity-expired',
      `agent ${name}'s identity expired at ${record.identity.notAfter}`,
      `join again with a new token: certkeeper agent token ${name}, then certkeeper agent join <token> on the server`,
    );
  }
  return record;
}

/**
 * Renewed: the new identity replaces the old, which is not revoked (it expires within days,
 * and listing every superseded identity would grow the CRL by one entry per agent per renewal).
 */
export function renewedRecord(record: AgentRecord, identity: AgentIdentity, now: Date): AgentRecord {
  return { ...record, identity, updatedAt: now.toISOString() };
}

/** Removed: no token, the identity revoked; the record stays for the fleet view and the CRL. */
export function removedRecord(record: AgentRecord, now: Date): AgentRecord | undefined {
  if (record.status === 'removed') return undefined;
  const at = now.toISOString();
  return {
    ...record,
    status: 'removed',
    removedAt: at,
    enrolment: undefined,
    revoked: withRevoked(record.revoked, record.identity, now),
    updatedAt: at,
  };
}

/** Added again after removal: pending, a fresh start, its revocations kept until they lapse. */
export function revivedRecord(record: AgentRecord, selector: AgentSelector, now: Date): AgentRecord {
  const at = now.toISOString();
  return {
    ...record,
    selector,
    status: 'pending',
    removedAt: undefined,
    enrolment: undefined,
    identity: undefined,
    deliveryKey: undefined,
    revoked: withRevoked(record.revoked, undefined, now),
    updatedAt: at,
  };
}

/** The serials a CRL must list now: revoked identities not yet expired, across all agents. */
export function revokedSerials(
  records: readonly AgentRecord[],
  now: Date,
): { serial: string; at: string; agent: string }[] {
  return records
    .flatMap((r) =>
      withRevoked(r.revoked, undefined, now).map((x) => ({ serial: x.serial, at: x.at, agent: r.name })),
    )
    .sort((a, b) => a.serial.localeCompare(b.serial));
}

/** Adds an identity still valid to the revoked list, and drops entries that have expired. */
function withRevoked(
  revoked: AgentRecord['revoked'],
  identity: AgentIdentity | undefined,
  now: Date,
): AgentRecord['revoked'] {
  const live = revoked.filter((r) => Date.parse(r.notAfter) > now.getTime());
  if (
    identity &&
    Date.parse(identity.notAfter) > now.getTime() &&
    !live.some((r) => r.serial === identity.serial)
  ) {
    live.push({ serial: identity.serial, notAfter: identity.notAfter, at: now.toISOString() });
  }
  return live;
}

export function requireAgent(record: AgentRecord | undefined, name: string): AgentRecord {
  if (!record)
    throw new NotFoundError(
      `agent ${name} is not in the registry`,
      'certkeeper agent list shows the agents there are',
    );
  return record;
}
