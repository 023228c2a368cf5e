import * as z from 'zod';
import { parseNotification } from '../events/notification.js';
import { AGENT_NAME_PATTERN } from '../model/delivery.js';
import { NAME_PATTERN } from '../model/spec.js';
import { type DeliveryShard, MAX_SHARDS } from './shards.js';

/**
 * What a message on the deliver queue asks for: a certificate event as the topic delivers
 * it (raw); `{"deliver": {"agent": "<name>"}}` from the identity and fleet functions; or
 * `{"deliver": {"certificate": "<name>", "shard": {"index": i, "count": n}}}` from the
 * deliver function itself, when a certificate goes to more agents than one invocation serves.
 */
export type DeliveryMessage =
  | { kind: 'certificate'; certificate: string; shard?: DeliveryShard }
  | { kind: 'agent'; agent: string }
  | { kind: 'ignored'; reason: string };

export const agentDeliveryMessage = (agent: string): string => JSON.stringify({ deliver: { agent } });

export const shardDeliveryMessage = (certificate: string, shard: DeliveryShard): string =>
  JSON.stringify({ deliver: { certificate, shard } });

const shardRequest = z.strictObject({
  certificate: z.string().regex(NAME_PATTERN),
  shard: z
    .strictObject({
      index: z.number().int().nonnegative(),
      count: z.number().int().min(1).max(MAX_SHARDS),
    })
    .refine((s) => s.index < s.count, 'index must be below count'),
});

export function parseDeliveryMessage(body: string | undefined): DeliveryMessage {
  if (!body) return { kind: 'ignored', reason: 'the message has no body' };
  if (body.length > 256 * 1024)
    return { kind: 'ignored', reason: 'the message is larger than any delivery request' };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { kind: 'ignored', reason: 'the message is not JSON' };
  }
  const deliver = (json as { deliver?: Record<string, unknown> } | null)?.deliver;
  if (deliver !== undefined) {
    if (typeof deliver === 'object' && deliver !== null && 'agent' in deliver) {
      const agent = deliver.agent;
      return typeof agent === 'string' && AGENT_NAME_PATTERN.test(agent)
        ? { kind: 'agent', agent }
        : { kind: 'ignored', reason: 'deliver.agent is not an agent name' };
    }
    const request = shardRequest.safeParse(deliver);
    if (!request.success) {
      const issue = request.error.issues[0]!;
      const where = ['deliver', ...issue.path.map(String)].join('.');
      return { kind: 'ignored', reason: `${where}: ${issue.message}` };
    }
    return { kind: 'certificate', certificate: request.data.certificate, shard: request.data.shard };
  }
  try {
    const parsed = parseNotification(body);
    if (parsed.kind !== 'certificate') return { kind: 'ignored', reason: 'not a certificate event' };
    const { certificate, type } = parsed.event;
    if (type !== 'certificate.issued' && type !== 'certificate.renewed')
      return { kind: 'ignored', reason: `a ${type} event delivers nothing` };
    return NAME_PATTERN.test(certificate)
      ? { kind: 'certificate', certificate }
      : { kind: 'ignored', reason: 'not a certificate name' };
  } catch (err) {
    return { kind: 'ignored', reason: (err as Error).message };
  }
}
