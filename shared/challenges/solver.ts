import type { Identifier } from '../model/identifiers.js';
import type { ChallengeType } from '../model/spec.js';

/** One challenge to satisfy: `value` is what must be published (RFC 8555 §8.3, §8.4). */
export interface Challenge {
  type: ChallengeType;
  identifier: Identifier;
  token: string;
  /** http-01: the key authorization; dns-01: base64url(SHA-256(key authorization)). */
  value: string;
}

/**
 * Port: publishes challenge responses. `cleanup` is idempotent and always runs, even when
 * `present` or validation failed.
 */
export interface ChallengeSolver {
  readonly type: ChallengeType;
  present(challenges: readonly Challenge[]): Promise<void>;
  /** Resolves when the CA can see what was presented (DNS propagated, object readable). */
  waitReady(challenges: readonly Challenge[]): Promise<void>;
  cleanup(challenges: readonly Challenge[]): Promise<void>;
}
