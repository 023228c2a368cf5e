import { asCertkeeperError } from '../shared/model/errors.js';
import type { EventType } from '../shared/model/event.js';
import { parseNotification } from '../shared/events/notification.js';

/** What one message on the agent's queue asks of it. */
export type QueueMessage =
  | { kind: 'certificate'; certificate: string; type: EventType; serial: string | undefined }
  | { kind: 'other' }
  | { kind: 'malformed'; error: string };

/**
 * Reads one SQS message body: a certificate event as the issuer publishes it (raw SNS
 * delivery, or inside SNS's envelope when a subscription was made without raw delivery).
 * Anything else is malformed; the caller deletes it, so it cannot block.
 */
export function parseQueueMessage(body: string | undefined): QueueMessage {
  if (!body) return { kind: 'malformed', error: 'the message has no body' };
  try {
    const parsed = parseNotification(body);
    if (parsed.kind !== 'certificate') return { kind: 'other' };
    const { certificate, type, serial } = parsed.event;
    return { kind: 'certificate', certificate, type, serial };
  } catch (err) {
    return { kind: 'malformed', error: asCertkeeperError(err).describe() };
  }
}
