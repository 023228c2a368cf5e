import { ValidationError } from '../shared/model/errors.js';

/** A whole-number flag (`--port 8080`), or a usage error naming the flag and the range. */
export function integerFlag(flag: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(flag, `is ${raw}`, `give a whole number from ${min} to ${max}`);
  }
  return value;
}
