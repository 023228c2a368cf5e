/**
 * rolesAnywhereCredentials, the agent's AWS SDK credential provider, against the IAM Roles
 * Anywhere stand-in and moto: it caches credentials, renews them CREDENTIAL_REFRESH_AHEAD_MS
 * before they expire with the identity as it is on disk then, and rides out a failed
 * renewal on the credentials it still has. The service and the agent share one clock,
 * moved by the test instead of waiting an hour.
 */
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RolesAnywhereRefusedError } from '../../shared/identity/roles-anywhere-errors.js';
import {
  CREDENTIAL_REFRESH_AHEAD_MS,
  REFRESH_RETRY_GAP_MS,
  type RolesAnywhereIdentity,
  type RolesAnywhereTarget,
  rolesAnywhereCredentials,
} from '../../shared/identity/roles-anywhere.js';
import { type AgentCa, type AgentIdentity, createAgentCa } from '../support/agent-identity.js';
import { peers } from '../../scripts/test-kit/peers.js';
import { OffsetClock, rolesAnywhereFixture } from '../support/roles-anywhere.js';
import { scratch } from '../support/scratch.js';

const work = scratch('roles-anywhere-credentials');
/** One clock for the service and the agent. */
const clock = new OffsetClock();
let ca: AgentCa;
let otherCa: AgentCa;
let target: RolesAnywhereTarget;
let roleName: string;
let sessionsOf: () => { accessKeyId: string; serial: string }[];

beforeAll(async () => {
  const fixture = await rolesAnywhereFixture(work, { clock });
  ({ ca, target, roleName } = fixture);
  sessionsOf = () => fixture.standIn.sessions();
  otherCa = await createAgentCa('elsewhere');
});

afterAll(() => work.cleanUp());

/** A provider over the identity `onDisk` holds at each load (none: the load throws), counting the loads. */
function providerOver(onDisk: { identity: AgentIdentity | undefined }) {
  const counter = { loads: 0 };
  const provider = rolesAnywhereCredentials(
    (): Promise<RolesAnywhereIdentity> => {
      counter.loads++;
      // Thrown before any promise exists, as a synchronous file read would.
      if (!onDisk.identity) throw new Error('identity file missing');
      return Promise.resolve({
        certificatePem: onDisk.identity.certificatePem,
        privateKey: onDisk.identity.keyPem,
      });
    },
    target,
    { clock },
  );
  return { provider, counter };
}

describe('rolesAnywhereCredentials', () => {
  it('caches, renews ahead of expiry with the identity on disk then, and serves the AWS SDK', async () => {
    clock.offsetMs = 0;
    const onDisk: { identity: AgentIdentity | undefined } = { identity: undefined };
    const { provider, counter } = providerOver(onDisk);
    // Before enrolment there is no identity: the load's error reaches the caller, and the
    // next call tries again.
    await expect(provider()).rejects.toThrow('identity file missing');
    onDisk.identity = await ca.issue('web-1');
    counter.loads = 0;
    const first = await provider();
    expect(await provider()).toBe(first);
    expect(counter.loads).toBe(1);
    expect(sessionsOf().find((s) => s.accessKeyId === first.accessKeyId)?.serial).toBe(
      onDisk.identity!.serialDecimal,
    );

    // The agent renewed its identity on disk; outside the renewal window nothing changes.
    onDisk.identity = await ca.issue('web-1');
    clock.moveTo(first.expiration, CREDENTIAL_REFRESH_AHEAD_MS + 60_000);
    expect(await provider()).toBe(first);
    expect(counter.loads).toBe(1);

    // Inside it: a new session, made with the renewed identity.
    clock.moveTo(first.expiration, CREDENTIAL_REFRESH_AHEAD_MS - 60_000);
    const second = await provider();
    expect(second.accessKeyId).not.toBe(first.accessKeyId);
    expect(counter.loads).toBe(2);
    expect(sessionsOf().find((s) => s.accessKeyId === second.accessKeyId)?.serial).toBe(
      onDisk.identity!.serialDecimal,
    );

    clock.offsetMs = 0;
    const sts = new STSClient({ endpoint: peers().motoEndpoint, region: 'us-east-1', credentials: provider });
    const caller = await sts.send(new GetCallerIdentityCommand({}));
    sts.destroy();
    expect(caller.Arn).toContain(`assumed-role/${roleName}/`);
  });

  it('serves the cached credentials through a failed renewal while they last, then fails', async () => {
    clock.offsetMs = 0;
    const onDisk: { identity: AgentIdentity | undefined } = { identity: await ca.issue('web-2') };
    const { provider, counter } = providerOver(onDisk);
    const cached = await provider();
    // The identity now on disk is one the trust anchor does not know: renewals fail.
    onDisk.identity = await otherCa.issue('web-2');

    clock.moveTo(cached.expiration, 5 * 60_000);
    expect(await provider()).toBe(cached);
    expect(counter.loads).toBe(2);
    // Within the retry gap: the cached credentials again, no new attempt.
    clock.offsetMs += REFRESH_RETRY_GAP_MS / 2;
    expect(await provider()).toBe(cached);
    expect(counter.loads).toBe(2);
    // After it: tried again.
    clock.offsetMs += REFRESH_RETRY_GAP_MS;
    expect(await provider()).toBe(cached);
    expect(counter.loads).toBe(3);

    // Expired: the refusal reaches the caller.
    clock.moveTo(cached.expiration, -1000);
    const err = await provider().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolesAnywhereRefusedError);
    expect((err as RolesAnywhereRefusedError).reason).toBe('certificate-untrusted');
    clock.offsetMs = 0;
  });
});
