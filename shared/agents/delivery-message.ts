import { parseNotification } from '../events/notification.js';
import { AGENT_NAME_PATTERN } from '../model/delivery.js';
import { NAME_PATTERN } from '../model/spec.js';

/**
 * What a message on the deliver queue asks for: a certificate event as the topic delivers
 * it (raw), or `{"deliver": {"agent": "<name>"}}` from the identity and fleet functions.
 */
export type DeliveryMessage =
  | { kind: 'certificate'; certificate: string }
  | { kind: 'agent'; agent: string }
  | { kind: 'ignored'; reason: string };

export const agentDeliveryMessage = (agent: string): string => JSON.stringify({ deliver: { agent } });

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
  const agent = (json as { deliver?: { agent?: unknown } } | null)?.deliver?.agent;
  if (agent !== undefined) {
    return typeof agent === 'string' && AGENT_NAME_PATTERN.test(agent)
      ? { kind: 'agent', agent }
      : { kind: 'ignored', reason: 'deliver.agent is not an agent name' };
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
