import * as z from 'zod';
import { ValidationError } from '../model/errors.js';
import { type CertificateEvent, EVENT_TYPES, TARGET_HEALTH, TARGET_KINDS } from '../model/events.js';
import { zodToValidationError } from '../model/spec.js';

/**
 * What reaches the notifier through SNS: a certificate event as the SnsPublisher writes it,
 * or a CloudWatch alarm's state change (CloudWatch publishes its own JSON to the topic).
 * Both are validated here, at the boundary; formatting trusts the shapes.
 */
export type Notification =
  { kind: 'certificate'; event: CertificateEvent } | { kind: 'alarm'; alarm: CloudWatchAlarm };

/** A certificate event as published (and as kept in a certificate's outbox). */
export const certificateEvent = z.object({
  type: z.enum(EVENT_TYPES),
  certificate: z.string().min(1),
  identifiers: z.array(z.string()),
  serial: z.string().optional(),
  notAfter: z.iso.datetime({ offset: true }).optional(),
  bucket: z.string().optional(),
  manifestKey: z.string().optional(),
  status: z.enum(['pending', 'valid', 'failing', 'expired', 'retired']).optional(),
  attempt: z.number().int().nonnegative().optional(),
  nextAttemptAt: z.iso.datetime({ offset: true }).optional(),
  warning: z.enum(['third', 'day']).optional(),
  error: z.object({ type: z.string().optional(), detail: z.string() }).optional(),
  target: z
    .object({
      kind: z.enum(TARGET_KINDS),
      id: z.string().min(1),
      health: z.enum(TARGET_HEALTH),
      installedSerial: z.string().optional(),
      servedSerial: z.string().optional(),
      behindSince: z.string().optional(),
      lastReportAt: z.string().optional(),
      error: z.string().optional(),
    })
    .optional(),
  at: z.string(),
}) satisfies z.ZodType<CertificateEvent>;

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

/** Parses one SNS message body; a ValidationError names the field that did not fit. */
export function parseNotification(body: string): Notification {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ValidationError(
      'message',
      'is not JSON',
      'publish certificate events (SnsPublisher) or CloudWatch alarms to this topic',
    );
  }
  const isAlarm = typeof json === 'object' && json !== null && 'AlarmName' in json;
  return isAlarm
    ? { kind: 'alarm', alarm: validate(cloudWatchAlarm, json) }
    : { kind: 'certificate', event: validate(certificateEvent, json) };
}

function validate<T>(schema: z.ZodType<T>, json: unknown): T {
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw zodToValidationError(parsed.error, 'message');
  return parsed.data;
}
