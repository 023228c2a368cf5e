import type { AttributeValue, CancellationReason } from '@aws-sdk/client-dynamodb';
import * as z from 'zod';

/** Explicit attribute values: the items are small enough that a marshalling layer adds nothing. */
export const S = (value: string): AttributeValue => ({ S: value });
export const N = (value: number): AttributeValue => ({ N: String(value) });

/** Readers for zod item schemas: `{ S: "x" }` -> "x", `{ N: "12" }` -> 12. */
export const stringAttribute = z.object({ S: z.string() }).transform((a) => a.S);
export const integerAttribute = z
  .object({ N: z.string().regex(/^-?\d+$/, 'is not an integer') })
  .transform((a) => Number(a.N));

/** Epoch seconds for the `ttl` attribute, which DynamoDB TTL reads. */
export const epochSeconds = (ms: number): number => Math.ceil(ms / 1000);

/**
 * Why each action of a cancelled TransactWriteItems failed, in request order
 * ("ConditionalCheckFailed", "TransactionConflict", "None", ...); undefined for any other error.
 */
export function cancellationReasons(err: unknown): CancellationReason[] | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { name?: string; CancellationReasons?: CancellationReason[] };
  return e.name === 'TransactionCanceledException' ? (e.CancellationReasons ?? []) : undefined;
}
