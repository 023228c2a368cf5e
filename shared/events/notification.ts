import * as z from 'zod';
import { parseJson, type JsonSource, validateJson } from '../model/json.js';
import { type CertificateEvent, certificateEventSchema } from '../model/event.js';

/**
 * What arrives from the events topic: a certificate event as the SnsPublisher writes it, or
 * a CloudWatch alarm's state change (CloudWatch publishes its own JSON to the topic). The
 * notifier and the agent both read it here, at the boundary; formatting trusts the shapes.
 */
export type Notification =
  { kind: 'certificate'; event: CertificateEvent } | { kind: 'alarm'; alarm: CloudWatchAlarm };

// CloudWatch writes null, not nothing, for an alarm without a description.
const cloudWatchAlarm = z.object({
  AlarmName: z.string().min(1),
  /** ALARM, OK or INSUFFICIENT_DATA; kept open so a new state is still forwarded. */
  NewStateValue: z.string().min(1),
  NewStateReason: z.string().nullish(),
  /** "2026-11-22T11:00:00.000+0000" */
  StateChangeTime: z.string().nullish(),
  OldStateValue: z.string().nullish(),
  AlarmDescription: z.string().nullish(),
  AlarmArn: z.string().nullish(),
  Region: z.string().nullish(),
  AWSAccountId: z.string().nullish(),
});
export type CloudWatchAlarm = z.infer<typeof cloudWatchAlarm>;

const MESSAGE: JsonSource = {
  what: 'message',
  fix: 'publish certificate events (SnsPublisher) or CloudWatch alarms to this topic',
};

// What SNS delivers to a queue subscribed without raw message delivery: the message inside.
const snsEnvelope = z.object({ Type: z.literal('Notification'), Message: z.string() });

/**
 * Parses one message from the topic, as delivered raw or inside SNS's envelope; a
 * ValidationError names the field that did not fit.
 */
export function parseNotification(body: string): Notification {
  const json = parseJson(body, z.unknown(), MESSAGE);
  const envelope = snsEnvelope.safeParse(json);
  if (envelope.success) return parseNotification(envelope.data.Message);
  const isAlarm = typeof json === 'object' && json !== null && 'AlarmName' in json;
  return isAlarm
    ? { kind: 'alarm', alarm: validateJson(json, cloudWatchAlarm, MESSAGE) }
    : { kind: 'certificate', event: validateJson(json, certificateEventSchema, MESSAGE) };
}
