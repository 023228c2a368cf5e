import type { z } from 'zod';
import { IntegrityError } from '../model/errors.js';

/** Where a stored value was read from, and what an operator can do when it is damaged. */
export interface StoredAt {
  /** Names the item or file, e.g. "DynamoDB item cert#web". */
  where: string;
  /** Defaults to restoring or re-declaring the certificate. */
  fix?: string;
}

/**
 * Validates something read back from storage. Anything written by certkeeper passes; a
 * failure means the item was edited by hand or damaged, so it is an IntegrityError that
 * names the item rather than a crash somewhere downstream on a missing field.
 */
export function parseStored<S extends z.ZodType>(schema: S, value: unknown, at: StoredAt): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue && issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ` : '';
  throw corrupted(at, `${path}${issue?.message ?? 'invalid'}`);
}

/** `parseStored` for JSON text. */
export function parseStoredJson<S extends z.ZodType>(schema: S, text: string, at: StoredAt): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw corrupted(at, `not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  return parseStored(schema, value, at);
}

function corrupted({ where, fix }: StoredAt, problem: string): IntegrityError {
  return new IntegrityError(
    `${where} is corrupted: ${problem}`,
    fix ?? `restore ${where} from a backup, or delete it and declare the certificate again`,
  );
}
