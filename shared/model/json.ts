import type * as z from 'zod';
import { IntegrityError, ValidationError } from './errors.js';

/**
 * One way to read JSON that crosses a boundary (a message, a file, a stored object or item):
 * parse it, validate it with the schema, and on failure say which source, which field and
 * what to do, as the error class the site needs.
 */
export type JsonSource = (
  | {
      /** Names the source: a field ("message"), a file path, an object key, an item. */
      what: string;
      /** What the person who reads the error should do about it. */
      fix: string;
      /**
       * 'input' (the default): a ValidationError whose field is `what` followed by the path
       * inside the document. 'stored': an IntegrityError, "<what> is corrupted: <path>:
       * <problem>", for data certkeeper wrote itself and must not guess about.
       */
      as?: 'input' | 'stored';
    }
  | {
      /** The site's own error, where its wording is pinned: built from the problem. */
      as: (problem: JsonProblem) => Error;
    }
) & {
  /**
   * The text is secret (an account key): the parser's message is left out, since it quotes
   * the text around the error.
   */
  secret?: boolean;
};

export interface JsonProblem {
  /** 'syntax': the text is not JSON at all; 'schema': JSON that does not fit the schema. */
  kind: 'syntax' | 'schema';
  /** Where inside the document, as `certificates.web.key` or `identifiers[0]`; '' for all of it. */
  path: string;
  /** What is wrong there: the parser's message ('' for a secret source) or the schema's. */
  message: string;
}

/** Parses `text` as JSON and validates it; a failure is reported as `source.as` says. */
export function parseJson<S extends z.ZodType>(text: string, schema: S, source: JsonSource): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const message = source.secret ? '' : err instanceof Error ? err.message : String(err);
    throw failure({ kind: 'syntax', path: '', message }, undefined, source);
  }
  return validateJson(value, schema, source);
}

/** The validating half of `parseJson`, for a value already parsed (a DynamoDB item, a JSON body). */
export function validateJson<S extends z.ZodType>(
  value: unknown,
  schema: S,
  source: JsonSource,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const problem: JsonProblem = {
    kind: 'schema',
    path: issue ? jsonPath(issue.path) : '',
    message: issue?.message ?? 'is invalid',
  };
  throw failure(problem, parsed.error, source);
}

function failure(problem: JsonProblem, error: z.ZodError | undefined, source: JsonSource): Error {
  if (typeof source.as === 'function') return source.as(problem);
  if (source.as === 'stored') {
    return new IntegrityError(`${source.what} is corrupted: ${describeJsonProblem(problem)}`, source.fix);
  }
  return error
    ? zodToValidationError(error, source.what, source.fix)
    : new ValidationError(source.what, `is ${describeJsonProblem(problem)}`, source.fix);
}

/** "not JSON (<parser message>)", or "<path>: <schema message>": the problem without its source. */
export function describeJsonProblem(problem: JsonProblem): string {
  if (problem.kind === 'syntax') return problem.message ? `not JSON (${problem.message})` : 'not JSON';
  return problem.path ? `${problem.path}: ${problem.message}` : problem.message;
}

/** `a.b[0].c`: how messages name a field inside a document. */
export function jsonPath(path: readonly PropertyKey[], root = ''): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc === '' ? String(p) : `${acc}.${String(p)}`),
    root,
  );
}

/**
 * Turns the first zod issue into a ValidationError whose field is `root` and the path. The
 * schema's own fix (the allowed values, the keys to drop) wins over the caller's.
 */
export function zodToValidationError(
  error: z.ZodError,
  root: string,
  fix = 'correct the value',
): ValidationError {
  const issue = error.issues[0];
  if (!issue) return new ValidationError(root, 'is invalid', 'check the value');
  const own =
    issue.code === 'invalid_value'
      ? `use one of: ${issue.values.map(String).join(', ')}`
      : issue.code === 'unrecognized_keys'
        ? `remove ${issue.keys.join(', ')}`
        : undefined;
  return new ValidationError(jsonPath(issue.path, root), issue.message, own ?? fix);
}
