import type { z } from 'zod';
import { type JsonSource, parseJson, validateJson } from '../model/json.js';

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
  return validateJson(value, schema, source(at));
}

/** `parseStored` for JSON text. */
export function parseStoredJson<S extends z.ZodType>(schema: S, text: string, at: StoredAt): z.output<S> {
  return parseJson(text, schema, source(at));
}

const source = ({ where, fix }: StoredAt): JsonSource => ({
  what: where,
  fix: fix ?? `restore ${where} from a backup, or delete it and declare the certificate again`,
  as: 'stored',
});
