import { randomBytes } from 'node:crypto';
import * as z from 'zod';
import { parseJson } from '../model/json.js';
import { NAME_PATTERN } from '../model/spec.js';

/** One unit of issuer work: renew (or first issue) one certificate. */
export const workMessage = z.object({
  certificate: z.string().regex(NAME_PATTERN, 'is not a certificate name'),
  /** Why the scheduler sent it (for logs); the issuer re-decides under the lease. */
  reason: z.string().max(40).default('manual'),
  force: z.boolean().default(false),
  /**
   * A forced renewal's identity (renewal/forced.ts): the issuer honours each id once, so a
   * duplicate delivery or a replay does not order again. A forced message without it renews
   * only when due.
   */
  request: z
    .object({ id: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'is not a request id'), at: z.iso.datetime() })
    .optional(),
});
export type WorkMessage = z.infer<typeof workMessage>;
export type WorkMessageInput = z.input<typeof workMessage>;

/**
 * An operator's forced renewal, as `certkeeper renew --force` queues it: a new request id
 * (16 random bytes, base64url), made `at`.
 */
export function forcedRenewal(
  certificate: string,
  at: Date,
): WorkMessage & { request: { id: string; at: string } } {
  const request = { id: randomBytes(16).toString('base64url'), at: at.toISOString() };
  return { certificate, reason: 'manual', force: true, request };
}

/** Parses an SQS body; anything else is a ValidationError naming the problem. */
export function parseWorkMessage(body: string): WorkMessage {
  return parseJson(body, workMessage, { what: 'message', fix: 'send {"certificate": "<name>"}' });
}

/** Port: where the scheduler puts work for the issuer. */
export interface WorkQueue {
  enqueue(messages: readonly WorkMessageInput[]): Promise<void>;
}
