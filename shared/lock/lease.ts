import { ConflictError, ValidationError } from '../model/errors.js';
import { NAME_PATTERN } from '../model/spec.js';
import type { Lease } from './lock.js';

/** Names become DynamoDB keys and file names: only declared certificate names are accepted. */
export function checkName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new ValidationError(
      'name',
      `"${name}" is not a certificate name`,
      'use the name the certificate was declared with',
    );
  }
}

/** Refuses a lease duration that would make an instantly expired or never-expiring lock. */
export function checkLeaseRequest(name: string, ttlMs: number): void {
  checkName(name);
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new ValidationError(
      'ttlMs',
      `${ttlMs} is not a positive whole number of milliseconds`,
      'pass e.g. 300000',
    );
  }
}

/**
 * The refusal every fenced operation gives a holder whose lease is gone. Retryable: the
 * certificate is still there to renew, by whoever holds the lease now or by a later run.
 */
export const leaseLost = (lease: Lease, refused: string): ConflictError =>
  new ConflictError(
    `lease for ${lease.name} was lost (fencing token ${lease.fencingToken}): it expired and was taken over, ` +
      `or was released, so ${refused} was refused`,
  );
