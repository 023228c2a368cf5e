import { describe, expect, it } from 'vitest';
import { HOUR } from '../../../shared/model/clock.js';
import {
  AcmeProblemError,
  CertkeeperError,
  RetryLaterError,
  UnreachableError,
  ProfileNotOfferedError,
  ValidationError,
} from '../../../shared/model/errors.js';
import type { CertificateState } from '../../../shared/model/state.js';
import { caAttemptAfterFailure, chooseCa, isCaFault } from '../../../shared/authorities/choice.js';

const NOW = new Date('2026-11-27T12:00:00Z');
const POLICY = { afterFailures: 2, lifetimeShareLeft: 0.2 };
const CAS = [{ name: 'a' }, { name: 'b' }, { name: 'c' }];
const problem = (type: string, status?: number) =>
  new AcmeProblemError(`urn:ietf:params:acme:error:${type}`, 'detail', status);

/** A certificate with `left` of its 100-hour lifetime ahead. */
function stateWith(caAttempt: CertificateState['caAttempt'], left = 0.5): CertificateState {
  const notAfter = new Date(NOW.getTime() + left * 100 * HOUR);
  return {
    status: 'valid',
    attempts: caAttempt?.failures ?? 0,
    current: {
      serial: '01',
      notBefore: new Date(notAfter.getTime() - 100 * HOUR).toISOString(),
      notAfter: notAfter.toISOString(),
      manifestKey: 'certificates/x/current.json',
      ca: 'a',
    },
    ...(caAttempt ? { caAttempt } : {}),
    updatedAt: NOW.toISOString(),
  };
}

describe('chooseCa', () => {
  it.each<[string, CertificateState['caAttempt'], number, string]>([
    ['nothing failed: the preferred CA', undefined, 0.5, 'a'],
    ['one failure of the CA: stays', { name: 'a', failures: 1 }, 0.5, 'a'],
    ['afterFailures reached: the next CA', { name: 'a', failures: 2 }, 0.5, 'b'],
    ['failures that were not the CA’s: stays', { name: 'a', failures: 0 }, 0.5, 'a'],
    ['under a fifth of the lifetime left: moves at the first failure', { name: 'a', failures: 1 }, 0.15, 'b'],
    ['the last CA failing: round to the first', { name: 'c', failures: 2 }, 0.5, 'a'],
    ['a CA no longer configured: the preferred CA', { name: 'gone', failures: 5 }, 0.5, 'a'],
  ])('%s', (_, caAttempt, left, expected) => {
    const choice = chooseCa(CAS, stateWith(caAttempt, left), NOW, POLICY);
    expect(choice).toMatchObject({ ca: expected });
  });

  it('says which CA it moves away from', () => {
    expect(chooseCa(CAS, stateWith({ name: 'a', failures: 2 }), NOW, POLICY)).toEqual({
      ca: 'b',
      skipped: [],
      movedFrom: 'a',
    });
  });

  it('skips a CA that CAA forbids, saying why', () => {
    const choice = chooseCa(
      [{ name: 'a', caaRefusal: 'CAA at x allows only issue "b"' }, ...CAS.slice(1)],
      stateWith(undefined),
      NOW,
      POLICY,
    );
    expect(choice).toEqual({ ca: 'b', skipped: [{ name: 'a', why: 'CAA at x allows only issue "b"' }] });
  });

  it('refuses to fall back when CAA forbids every other CA, instead of going round to the failing one', () => {
    const candidates = [{ name: 'a' }, { name: 'b', caaRefusal: 'CAA at x allows only issue "a"' }];
    const choice = chooseCa(candidates, stateWith({ name: 'a', failures: 2 }), NOW, POLICY);
    expect('refused' in choice && choice.refused.message).toBe(
      'cannot fall back from CA a after 2 failures: the names\' CAA records forbid every other CA (b: CAA at x allows only issue "a")',
    );
    expect('refused' in choice && choice.refused.retryable).toBe(true);
  });

  it('refuses when CAA forbids every CA', () => {
    const choice = chooseCa([{ name: 'a', caaRefusal: 'no' }], stateWith(undefined), NOW, POLICY);
    expect('refused' in choice && choice.refused.message).toMatch(/forbid every configured CA \(a: no\)/);
  });

  it('one CA: never moves', () => {
    expect(chooseCa([{ name: 'a' }], stateWith({ name: 'a', failures: 9 }), NOW, POLICY)).toMatchObject({
      ca: 'a',
    });
  });
});

describe('isCaFault: what moves a renewal to another CA', () => {
  it.each<[string, CertkeeperError, boolean]>([
    ['unreachable', new UnreachableError('down', 'wait'), true],
    ['a 5xx', problem('serverInternal', 503), true],
    ['rejectedIdentifier', problem('rejectedIdentifier', 400), true],
    ['a profile the CA does not offer', new ProfileNotOfferedError('not offered', 'pick one'), true],
    // Another bad field of the spec would be bad at any CA.
    ['a bad field of the spec', new ValidationError('identifiers', 'not allowed', 'fix it'), false],
    [
      'a long Retry-After',
      new RetryLaterError('rate limited', new Date(NOW.getTime() + 3 * HOUR), 'rateLimited'),
      true,
    ],
    [
      'a short Retry-After',
      new RetryLaterError('busy', new Date(NOW.getTime() + 60_000), 'rateLimited'),
      false,
    ],
    ['a failed validation (ours, any CA would refuse)', problem('incorrectResponse', 403), false],
    ['a dns problem', problem('dns', 400), false],
    ['an internal error of ours', new CertkeeperError('internal', 'bug'), false],
  ])('%s: %s', (_, error, expected) => expect(isCaFault(error, NOW)).toBe(expected));

  it('counts only the CA’s own failures, per CA', () => {
    const down = new UnreachableError('down', 'wait');
    const invalid = problem('incorrectResponse', 403);
    expect(caAttemptAfterFailure(stateWith(undefined), 'a', down, NOW)).toEqual({ name: 'a', failures: 1 });
    expect(caAttemptAfterFailure(stateWith({ name: 'a', failures: 1 }), 'a', down, NOW)).toEqual({
      name: 'a',
      failures: 2,
    });
    expect(caAttemptAfterFailure(stateWith({ name: 'a', failures: 1 }), 'a', invalid, NOW)).toEqual({
      name: 'a',
      failures: 1,
    });
    expect(caAttemptAfterFailure(stateWith({ name: 'a', failures: 2 }), 'b', down, NOW)).toEqual({
      name: 'b',
      failures: 1,
    });
    expect(
      caAttemptAfterFailure(stateWith({ name: 'a', failures: 2 }), undefined, down, NOW),
    ).toBeUndefined();
  });
});
