import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import { callAws } from '../../aws/errors.js';
import { type Clock, MINUTE, systemClock } from '../../model/clock.js';
import { CertkeeperError } from '../../model/errors.js';

/** What an SDK client accepts as `credentials`: session credentials that run out. */
export interface TemporaryCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface AssumeRoleOptions {
  /** Measures the credentials' lifetime; tests move it by hand. */
  clock?: Clock;
  /** Shows in the zone account's CloudTrail as who made the changes. */
  sessionName?: string;
  /** The shortest STS allows: a renewal needs the role for a few minutes at most. */
  durationSeconds?: number;
  /**
   * Credentials this close to their expiry are replaced, so that a request signed with them
   * does not arrive after they ran out (a change batch plus a slow INSYNC wait).
   */
  refreshBeforeMs?: number;
}

/**
 * A credentials provider for an SDK client that acts as `roleArn`: AssumeRole on first use,
 * the same credentials until shortly before they expire, then AssumeRole again. Concurrent
 * callers share one AssumeRole; a failed one is not kept, so the next call tries again.
 * One provider per role and container: build it once, with the client it feeds.
 */
export function assumeRoleCredentials(
  sts: STSClient,
  roleArn: string,
  options: AssumeRoleOptions = {},
): () => Promise<TemporaryCredentials> {
  const clock = options.clock ?? systemClock;
  const durationSeconds = options.durationSeconds ?? 900;
  const refreshBeforeMs = options.refreshBeforeMs ?? 5 * MINUTE;
  // `expiresAt` is unset while the AssumeRole is in flight: callers then wait for it.
  let current: { credentials: Promise<TemporaryCredentials>; expiresAt?: number } | undefined;

  return () => {
    const now = clock.now().getTime();
    if (current && (current.expiresAt === undefined || now < current.expiresAt - refreshBeforeMs)) {
      return current.credentials;
    }
    const entry: NonNullable<typeof current> = {
      credentials: assumeRole(
        sts,
        roleArn,
        options.sessionName ?? 'certkeeper-issuer',
        durationSeconds,
        clock,
      ),
    };
    current = entry;
    entry.credentials.then(
      (c) => (entry.expiresAt = c.expiration.getTime()),
      () => {
        if (current === entry) current = undefined;
      },
    );
    return entry.credentials;
  };
}

async function assumeRole(
  sts: STSClient,
  roleArn: string,
  sessionName: string,
  durationSeconds: number,
  clock: Clock,
): Promise<TemporaryCredentials> {
  const requestedAt = clock.now().getTime();
  const out = await callAws(
    { service: 'STS', operation: 'AssumeRole', resource: roleArn, clock, client: sts },
    async () => {
      try {
        return await sts.send(
          new AssumeRoleCommand({
            RoleArn: roleArn,
            RoleSessionName: sessionName,
            DurationSeconds: durationSeconds,
          }),
        );
      } catch (err) {
        // The generic fix ("grant sts:AssumeRole") misses the usual cause across accounts:
        // the role's trust policy, which lives in the other account, does not name us.
        if ((err as Error).name === 'AccessDenied') {
          throw new CertkeeperError(
            'internal',
            `STS AssumeRole on ${roleArn} was denied: ${(err as Error).message}`,
            {
              retryable: false,
              fix: `let ${roleArn} trust the issuer's role (its trust policy in the zone's account) and grant the issuer's role sts:AssumeRole on it (the stack does for hostedZones entries with this roleArn)`,
              cause: err,
            },
          );
        }
        throw err;
      }
    },
  );
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
    throw new CertkeeperError('internal', `STS AssumeRole on ${roleArn} returned no credentials`, {
      retryable: true,
    });
  }
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken,
    // STS always says when they expire; should it not, assume the duration we asked for.
    expiration: c.Expiration ?? new Date(requestedAt + durationSeconds * 1000),
  };
}
