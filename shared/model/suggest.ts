/**
 * "Did you mean renewBefore?": the key a misspelt config key most likely meant, so a strict
 * schema's "unrecognized key" error says what to write instead of only what to remove.
 */
import type * as z from 'zod';
import { ValidationError } from './errors.js';
import { jsonPath, zodToValidationError } from './json.js';

/** Lower case without "-" and "_": `renew_before` and `RenewBefore` are `renewBefore`. */
const normalize = (key: string): string => key.toLowerCase().replace(/[-_]/g, '');

/** Optimal string alignment distance: edits, with a swap of two neighbours counted as one. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
      }
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate `key` most likely meant, or undefined when none is close: the same letters
 * apart from case, "-" and "_", at most 1 edit for short keys (up to 4 letters) and 2 for
 * longer ones (as commander's "Did you mean" for flags, and git's for commands), or one
 * key the start of the other (a unit left off). The fewest edits win.
 */
export function closestKey(key: string, candidates: readonly string[]): string | undefined {
  const wanted = normalize(key);
  const limit = wanted.length <= 4 ? 1 : 2;
  let best: { key: string; distance: number } | undefined;
  for (const candidate of candidates) {
    if (candidate === key) continue;
    const other = normalize(candidate);
    // A key without its unit or qualifier (pollInterval for pollIntervalSeconds) is close too.
    const prefix = wanted.length >= 4 && (other.startsWith(wanted) || wanted.startsWith(other));
    const d = distance(wanted, other);
    if ((d <= limit || prefix) && (!best || d < best.distance)) best = { key: candidate, distance: d };
  }
  return best?.key;
}

/** The zod v4 definition fields this walk reads (internal, but stable across 4.x). */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: readonly z.ZodType[];
  valueType?: z.ZodType;
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
}
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/**
 * The keys the object schema at `path` (a zod issue's path) accepts: wrappers (optional,
 * default, pipe...) are looked through, array indexes step into the element, and a union
 * contributes the keys of each of its object options.
 */
export function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const found = new Set<string>();
  const walk = (node: z.ZodType | undefined, at: number): void => {
    if (!node) return;
    const def = defOf(node);
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'catch':
      case 'readonly':
      case 'nonoptional':
        return walk(def.innerType, at);
      case 'pipe':
        return walk(def.in, at);
      case 'lazy':
        return walk(def.getter?.(), at);
      case 'union':
        for (const option of def.options ?? []) walk(option, at);
        return;
      case 'intersection':
        walk(def.left, at);
        walk(def.right, at);
        return;
      case 'object':
        if (at === path.length) for (const key of Object.keys(def.shape ?? {})) found.add(key);
        else walk(def.shape?.[String(path[at])], at + 1);
        return;
      case 'array':
        if (at < path.length && typeof path[at] === 'number') walk(def.element, at + 1);
        return;
      case 'record':
        if (at < path.length) walk(def.valueType, at + 1);
        return;
    }
  };
  walk(schema, 0);
  return [...found];
}

/**
 * zodToValidationError for a config file parsed with `schema`: a misspelt key is reported
 * first (it also explains the "required" issue of the key it meant), named as the field,
 * with the key it most likely meant as the fix, or the keys allowed there.
 */
export function configError(error: z.ZodError, root: string, schema: z.ZodType): ValidationError {
  const issue = error.issues.find((i) => i.code === 'unrecognized_keys');
  if (!issue) return zodToValidationError(error, root);
  const known = knownKeys(schema, issue.path);
  const key = issue.keys[0]!;
  const meant = closestKey(key, known);
  const others = issue.keys.length > 1 ? ` (and ${issue.keys.slice(1).join(', ')})` : '';
  return new ValidationError(
    `${jsonPath(issue.path, root)}.${key}`,
    `is not a known key${others}${meant ? ` (did you mean ${meant}?)` : ''}`,
    meant
      ? `rename it to ${meant}`
      : `remove it${known.length ? `; the keys here are: ${known.join(', ')}` : ''}`,
  );
}
