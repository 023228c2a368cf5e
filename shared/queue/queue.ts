import * as z from 'zod';
import { parseJson } from '../model/json.js';
import { NAME_PATTERN } from '../model/spec.js';

/** One unit of issuer work: renew (or first issue) one certificate. */
export const workMessage = z.object({
  certificate: z.string().regex(NAME_PATTERN, 'is not a certificate name'),
  /** Why the scheduler sent it (for logs); the issuer re-decides under the lease. */
  reason: z.string().max(40).default('manual'),
  force: z.boolean().default(false),
});
export type WorkMessage = z.infer<typeof workMessage>;
export type WorkMessageInput = z.input<typeof workMessage>;

/** Parses an SQS body; anything else is a ValidationError naming the problem. */
export function parseWorkMessage(body: string): WorkMessage {
  return parseJson(body, workMessage, { what: 'message', fix: 'send {"certificate": "<name>"}' });
}

/** Port: where the scheduler puts work for the issuer. */
export interface WorkQueue {
  enqueue(messages: readonly WorkMessageInput[]): Promise<void>;
}
