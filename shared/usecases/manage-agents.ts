import type { AgentInboxes } from '../agents/inbox.js';
import {
  newAgentRecord,
  removedRecord,
  requireAgent,
  revivedRecord,
  withEnrolmentToken,
} from '../agents/records.js';
import type { AgentRegistry } from '../agents/registry.js';
import { formatEnrolmentToken, newEnrolmentToken, tokenSha256 } from '../agents/token.js';
import type { AgentReportStore } from '../fleet/report-store.js';
import type { Inventory } from '../inventory/inventory.js';
import {
  type AgentRecord,
  type AgentSelector,
  describeSelector,
  parseAgentName,
  selects,
} from '../model/agent.js';
import { type Clock, DAY, HOUR, MINUTE } from '../model/clock.js';
import { ConflictError, ValidationError } from '../model/errors.js';
import { agentPrefix } from '../store/layout.js';
import type { ListableObjectStore } from '../store/object-certificate-store.js';

/**
 * The operator's side of agents as data: add (with a one-time token), a new token, remove,
 * and the agents the deployment config declares. None of it touches the stack's template.
 */
export interface ManageDeps {
  registry: AgentRegistry;
  inventory: Inventory;
  clock: Clock;
}

/** Where a token sends its server: the identity endpoint and the stack's region. */
export interface EnrolmentEndpoint {
  url: string;
  region: string;
}

export const DEFAULT_TOKEN_TTL_MS = HOUR;
export const MAX_TOKEN_TTL_MS = 7 * DAY;

export interface TokenResult {
  record: AgentRecord;
  /** The token's text: printed once, stored nowhere. */
  token: string;
  expiresAt: string;
}

export interface AddResult extends TokenResult {
  /** Things the operator should know (a selector that matches nothing today). */
  warnings: string[];
}

export async function addAgent(
  deps: ManageDeps,
  endpoint: EnrolmentEndpoint,
  request: { name: string; selector: AgentSelector; tokenTtlMs?: number },
): Promise<AddResult> {
  const name = parseAgentName(request.name);
  const now = deps.clock.now();
  const token = tokenFor(endpoint, name, now, request.tokenTtlMs);
  const record = await deps.registry.update(name, (stored) => {
    if (stored && stored.status !== 'removed') {
      throw new ConflictError(
        `agent ${name} is already in the registry (${stored.status}); for a new token: certkeeper agent token ${name}`,
      );
    }
    const base = stored
      ? revivedRecord(stored, request.selector, now)
      : newAgentRecord(name, request.selector, 'cli', now);
    return withEnrolmentToken(base, tokenSha256(token.secret), now, new Date(token.expiresAt));
  });
  return {
    record: record!,
    token: formatEnrolmentToken(token),
    expiresAt: token.expiresAt,
    warnings: await selectorWarnings(deps, request.selector),
  };
}

/** A new one-time token for an agent in the registry (a new server, a lost token, a re-enrolment). */
export async function issueToken(
  deps: Pick<ManageDeps, 'registry' | 'clock'>,
  endpoint: EnrolmentEndpoint,
  request: { name: string; tokenTtlMs?: number },
): Promise<TokenResult> {
  const name = parseAgentName(request.name);
  const now = deps.clock.now();
  const token = tokenFor(endpoint, name, now, request.tokenTtlMs);
  const record = await deps.registry.update(name, (stored) =>
    withEnrolmentToken(requireAgent(stored, name), tokenSha256(token.secret), now, new Date(token.expiresAt)),
  );
  return { record: record!, token: formatEnrolmentToken(token), expiresAt: token.expiresAt };
}

/**
 * Removes an agent: in the registry at once (its identity revoked, no renewal, its reports
 * ignored), its inbox and delivered envelopes deleted, so nothing it could still read with
 * credentials it holds carries a certificate; the CRL that makes Roles Anywhere refuse it
 * is published by the caller (publishAgentCrl) or the next fleet tick.
 */
export async function removeAgent(
  deps: Pick<ManageDeps, 'registry' | 'clock'> & {
    inboxes?: AgentInboxes;
    objects?: ListableObjectStore;
    reports?: AgentReportStore;
  },
  name: string,
): Promise<{ record: AgentRecord; changed: boolean }> {
  parseAgentName(name);
  const now = deps.clock.now();
  let record: AgentRecord | undefined;
  const written = await deps.registry.update(name, (stored) => {
    record = requireAgent(stored, name);
    return removedRecord(record, now);
  });
  await deps.inboxes?.remove(name);
  if (deps.objects) {
    for (const { key } of await deps.objects.list(`${agentPrefix(name)}deliveries/`))
      await deps.objects.delete(key);
  }
  return { record: written ?? record!, changed: written !== undefined };
}

/** Warnings for a selector: names that are not declared, and a selector that matches nothing. */
export async function selectorWarnings(
  deps: Pick<ManageDeps, 'inventory'>,
  selector: AgentSelector,
): Promise<string[]> {
  const records = (await deps.inventory.list()).filter((r) => r.state.status !== 'retired');
  const warnings: string[] = [];
  const names = new Set(records.map((r) => r.spec.name));
  const missing = selector.certificates.filter((c) => !names.has(c));
  if (missing.length) warnings.push(`no certificate is declared as ${missing.join(', ')} (yet)`);
  if (!records.some((r) => selects(selector, { name: r.spec.name, labels: r.spec.labels }))) {
    warnings.push(
      `the selector (${describeSelector(selector)}) matches no certificate today; the agent receives what matches once it is declared`,
    );
  }
  return warnings;
}

/**
 * The agents of the deployment config, declared on every deploy the way certificates are:
 * added (pending, waiting for a token and `agent join`) or their selector updated; config
 * agents no longer listed are removed. Agents added at run time are left alone.
 */
export async function syncConfigAgents(
  deps: Pick<ManageDeps, 'registry' | 'clock'>,
  declared: readonly { name: string; selector: AgentSelector }[],
): Promise<{ declared: string[]; removed: string[] }> {
  const now = deps.clock.now();
  const names = new Set(declared.map((a) => a.name));
  for (const agent of declared) {
    await deps.registry.update(agent.name, (stored) => {
      if (!stored) return newAgentRecord(agent.name, agent.selector, 'config', now);
      if (stored.status === 'removed')
        return { ...revivedRecord(stored, agent.selector, now), source: 'config' };
      if (JSON.stringify(stored.selector) === JSON.stringify(agent.selector) && stored.source === 'config')
        return undefined;
      return { ...stored, selector: agent.selector, source: 'config', updatedAt: now.toISOString() };
    });
  }
  const removed: string[] = [];
  for (const record of await deps.registry.list()) {
    if (record.source !== 'config' || names.has(record.name) || record.status === 'removed') continue;
    if (await deps.registry.update(record.name, (stored) => stored && removedRecord(stored, now)))
      removed.push(record.name);
  }
  return { declared: [...names].sort(), removed };
}

/** A new token for `agent` at the endpoint, valid for the requested time (checked). */
function tokenFor(endpoint: EnrolmentEndpoint, agent: string, now: Date, ttlMs: number | undefined) {
  return newEnrolmentToken({
    url: endpoint.url,
    region: endpoint.region,
    agent,
    expiresAt: new Date(now.getTime() + checkTtl(ttlMs)).toISOString(),
  });
}

function checkTtl(ttl: number | undefined): number {
  const ms = ttl ?? DEFAULT_TOKEN_TTL_MS;
  if (!Number.isFinite(ms) || ms < MINUTE || ms > MAX_TOKEN_TTL_MS) {
    throw new ValidationError(
      '--token-ttl',
      `${Math.round(ms / 1000)} s is outside 1 minute .. 7 days`,
      'give a duration such as 30m, 2h or 1d',
    );
  }
  return ms;
}
