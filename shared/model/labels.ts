import * as z from 'zod';
import { ValidationError } from './errors.js';

/**
 * Labels on certificates (`{"role": "edge"}`) and the selectors agents receive them by. The
 * grammar is Kubernetes' (keys of letters, digits, ".", "_", "-" and one optional "/" prefix;
 * values up to 63 characters), because operators already write labels that way and because a
 * label must survive being a DynamoDB attribute, a CLI flag and a URL query unescaped.
 */
export const LABEL_KEY_PATTERN =
  /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
export const LABEL_VALUE_PATTERN = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
/** A certificate carries at most this many labels (a selector asks for at most as many). */
export const MAX_LABELS = 16;

export type Labels = Record<string, string>;

const LABEL_FIX =
  'write labels as key=value: keys of letters, digits, ".", "_" and "-" (optionally "prefix/key"), values of up to 63 such characters, e.g. role=edge';

/** The input form (config files, the registry's JSON): checked by {@link parseLabels}. */
export const labelsInput = z.record(z.string(), z.string());

/** Validates labels; every error names the label and the form expected. */
export function parseLabels(input: Readonly<Record<string, unknown>>, field: string): Labels {
  const entries = Object.entries(input);
  if (entries.length > MAX_LABELS) {
    throw new ValidationError(
      field,
      `has ${entries.length} labels, more than ${MAX_LABELS}`,
      'keep the labels a selector needs',
    );
  }
  const out: Labels = {};
  for (const [key, value] of entries) {
    if (!LABEL_KEY_PATTERN.test(key)) {
      throw new ValidationError(`${field}.${key}`, `"${key}" is not a label key`, LABEL_FIX);
    }
    if (typeof value !== 'string' || !LABEL_VALUE_PATTERN.test(value)) {
      throw new ValidationError(
        `${field}.${key}`,
        `${JSON.stringify(value)} is not a label value`,
        LABEL_FIX,
      );
    }
    out[key] = value;
  }
  return out;
}

/** `["role=edge", "tier=1"]` (CLI flags) → labels; "role" alone is refused. */
export function parseLabelPairs(pairs: readonly string[], field: string): Labels {
  const input: Record<string, string> = {};
  for (const pair of pairs) {
    for (const part of pair.split(',').filter((p) => p.trim() !== '')) {
      const i = part.indexOf('=');
      if (i <= 0) throw new ValidationError(field, `"${part}" is not key=value`, LABEL_FIX);
      const key = part.slice(0, i).trim();
      if (Object.hasOwn(input, key)) {
        throw new ValidationError(field, `"${key}" is given twice`, 'give each label key once');
      }
      input[key] = part.slice(i + 1).trim();
    }
  }
  return parseLabels(input, field);
}

/** "role=edge,tier=1", in key order: how labels read in tables and messages. */
export const formatLabels = (labels: Labels | undefined): string =>
  Object.entries(labels ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
