import { ValidationError } from '../../model/errors.js';
import { sha256Hex } from '../../pki/hash.js';
import { http01Key, TOKEN_PATTERN } from '../../store/layout.js';
import type { ObjectStore } from '../../store/store.js';
import { pollUntil, type PollTiming } from '../poll.js';
import type { Challenge, ChallengeSolver } from '../solver.js';

export interface S3Http01SolverOptions extends PollTiming {
  /** Where the responder (agent or proxy) reads tokens: S3ObjectStore, or FsObjectStore locally. */
  store: ObjectStore;
  /** Bound on the wait for the object to read back. */
  readyTimeoutMs?: number;
  pollIntervalMs?: number;
}

/**
 * ChallengeSolver for http-01 through the object store: the key authorization goes to
 * `challenges/http-01/<token>`, which the agent's responder (or a proxy rule) serves at
 * `/.well-known/acme-challenge/<token>`. Ready means the object reads back with our value.
 */
export class S3Http01Solver implements ChallengeSolver {
  readonly type = 'http-01' as const;

  constructor(private readonly options: S3Http01SolverOptions) {}

  async present(challenges: readonly Challenge[]): Promise<void> {
    // Every key is checked before the first write: a refused batch publishes nothing.
    const keys = challenges.map(keyFor);
    await Promise.all(
      challenges.map((c, i) =>
        this.options.store.put(keys[i]!, c.value, {
          contentType: 'text/plain; charset=utf-8',
          sha256: sha256Hex(c.value),
        }),
      ),
    );
  }

  async waitReady(challenges: readonly Challenge[]): Promise<void> {
    await waitReadable(
      this.options,
      challenges.map((c, i) => ({ key: keyFor(c, i), body: c.value })),
    );
  }

  async cleanup(challenges: readonly Challenge[]): Promise<void> {
    // Deleting an absent object succeeds, so a repeated cleanup is harmless.
    await Promise.all(challenges.map(keyFor).map((key) => this.options.store.delete(key)));
  }
}

/**
 * Resolves once every object reads back with its body. S3 checked each body against its
 * checksum and reads after a write are strongly consistent, so the responder already sees
 * them: nothing to poll for there. Shared by the object-store solvers (http-01, tls-alpn-01).
 */
export async function waitReadable(
  options: S3Http01SolverOptions,
  objects: readonly { key: string; body: string }[],
): Promise<void> {
  if (options.store.verifiesOnWrite) return;
  await Promise.all(
    objects.map(({ key, body }) =>
      pollUntil(async () => (await options.store.get(key)) === body, {
        clock: options.clock,
        sleep: options.sleep,
        timeoutMs: options.readyTimeoutMs ?? 30_000,
        intervalMs: options.pollIntervalMs ?? 1_000,
        what: `${key} to be readable`,
        fix: 'check that certkeeper can read back what it writes to the bucket (s3:GetObject)',
      }),
    ),
  );
}

/** The token becomes part of an object key (and a URL path): only base64url gets that far. */
function keyFor(challenge: Challenge, index: number): string {
  if (challenge.type !== 'http-01') {
    throw new ValidationError(
      `challenges[${index}].type`,
      `is ${challenge.type}`,
      'pass http-01 challenges to the http-01 solver',
    );
  }
  if (!TOKEN_PATTERN.test(challenge.token)) {
    throw new ValidationError(
      `challenges[${index}].token`,
      'is not a base64url ACME token',
      'pass the token from the CA',
    );
  }
  return http01Key(challenge.token);
}
