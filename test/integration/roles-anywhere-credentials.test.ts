/**
 * rolesAnywhereCredentials, the agent's AWS SDK credential provider, against the IAM Roles
 * Anywhere stand-in and moto: it caches credentials, renews them CREDENTIAL_REFRESH_AHEAD_MS
 * before they expire with the identity as it is on disk then, and rides out a failed
 * renewal on the credentials it still has. The service and the agent share one clock,
 * moved by the test instead of waiting an hour.
 */
import {
  CreateProfileCommand,
  CreateTrustAnchorCommand,
  RolesAnywhereClient,
} from '@aws-sdk/client-rolesanywhere';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { standInClientConfig, startRolesAnywhereStandIn } from '../../scripts/peers/roles-anywhere/index.js';
import { RolesAnywhereRefusedError } from '../../shared/identity/roles-anywhere-errors.js';
import {
  CREDENTIAL_REFRESH_AHEAD_MS,
  REFRESH_RETRY_GAP_MS,
  type RolesAnywhereIdentity,
  type RolesAnywhereTarget,
  rolesAnywhereCredentials,
} from '../../shared/identity/roles-anywhere.js';
import type { Clock } from '../../shared/model/clock.js';
import { type AgentCa, type AgentIdentity, createAgentCa } from '../support/agent-identity.js';
import { peers, uniqueName } from '../support/peers.js';
import { scratch } from '../support/scratch.js';

class SharedClock implements Clock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  /** Moves to `ms` before `at` (real time). */
  moveTo(at: Date, msBefore: number): void {
    this.offsetMs = at.getTime() - msBefore - Date.now();
  }
}

const work = scratch('roles-anywhere-credentials');
const clock = new SharedClock();
let ca: AgentCa;
let otherCa: AgentCa;
let target: RolesAnywhereTarget;
let sessionsOf: () => { accessKeyId: string; serial: string }[];
const roleName = uniqueName('agent-role');

beforeAll(async () => {
  const standIn = await startRolesAnywhereStandIn({ stsEndpoint: peers().motoEndpoint, clock });
  work.defer(() => standIn.close());
  sessionsOf = () => standIn.sessions();
  const control = new RolesAnywhereClient(standInClientConfig(standIn));
  work.defer(() => control.destroy());
  [ca, otherCa] = await Promise.all([createAgentCa('fleet'), createAgentCa('elsewhere')]);
  const anchor = await control.send(
    new CreateTrustAnchorCommand({
      name: 'agents',
      enabled: true,
      source: { sourceType: 'CERTIFICATE_BUNDLE', sourceData: { x509CertificateData: ca.certPem } },
    }),
  );
  const roleArn = `arn:aws:iam::123456789012:role/${roleName}`;
  const profile = await control.send(
    new CreateProfileCommand({ name: 'agents', enabled: true, roleArns: [roleArn], durationSeconds: 3600 }),
  );
  target = {
    region: standIn.region,
    endpoint: standIn.endpoint,
    trustAnchorArn: anchor.trustAnchor!.trustAnchorArn!,
    profileArn: profile.profile!.profileArn!,
    roleArn,
    caPem: standIn.caCertPem,
  };
});

afterAll(() => work.cleanUp());

const asIdentity = (identity: AgentIdentity): RolesAnywhereIdentity => ({
  certificatePem: identity.certificatePem,
  privateKey: identity.keyPem,
});

describe('rolesAnywhereCredentials', () => {
  it('caches, renews ahead of expiry with the identity on disk then, and serves the AWS SDK', async () => {
    clock.offsetMs = 0;
    let onDisk = await ca.issue('web-1');
    let loads = 0;
    const provider = rolesAnywhereCredentials(
      async () => {
        loads++;
        return asIdentity(onDisk);
      },
      target,
      { clock },
    );
    const first = await provider();
    expect(await provider()).toBe(first);
    expect(loads).toBe(1);
    expect(sessionsOf().find((s) => s.accessKeyId === first.accessKeyId)?.serial).toBe(onDisk.serialDecimal);

    // The agent renewed its identity on disk; outside the renewal window nothing changes.
    onDisk = await ca.issue('web-1');
    clock.moveTo(first.expiration, CREDENTIAL_REFRESH_AHEAD_MS + 60_000);
    expect(await provider()).toBe(first);
    expect(loads).toBe(1);

    // Inside it: a new session, made with the renewed identity.
    clock.moveTo(first.expiration, CREDENTIAL_REFRESH_AHEAD_MS - 60_000);
    const second = await provider();
    expect(second.accessKeyId).not.toBe(first.accessKeyId);
    expect(loads).toBe(2);
    expect(sessionsOf().find((s) => s.accessKeyId === second.accessKeyId)?.serial).toBe(onDisk.serialDecimal);

    clock.offsetMs = 0;
    const sts = new STSClient({ endpoint: peers().motoEndpoint, region: 'us-east-1', credentials: provider });
    const caller = await sts.send(new GetCallerIdentityCommand({}));
    sts.destroy();
    expect(caller.Arn).toContain(`assumed-role/${roleName}/`);
  });

  it('serves the cached credentials through a failed renewal while they last, then fails', async () => {
    clock.offsetMs = 0;
    let identity = await ca.issue('web-2');
    let loads = 0;
    const provider = rolesAnywhereCredentials(
      async () => {
        loads++;
        return asIdentity(identity);
      },
      target,
      { clock },
    );
    const cached = await provider();
    // The identity now on disk is one the trust anchor does not know: renewals fail.
    identity = await otherCa.issue('web-2');

    clock.moveTo(cached.expiration, 5 * 60_000);
    expect(await provider()).toBe(cached);
    expect(loads).toBe(2);
    // Within the retry gap: the cached credentials again, no new attempt.
    clock.offsetMs += REFRESH_RETRY_GAP_MS / 2;
    expect(await provider()).toBe(cached);
    expect(loads).toBe(2);
    // After it: tried again.
    clock.offsetMs += REFRESH_RETRY_GAP_MS;
    expect(await provider()).toBe(cached);
    expect(loads).toBe(3);

    // Expired: the refusal reaches the caller.
    clock.moveTo(cached.expiration, -1000);
    const err = await provider().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolesAnywhereRefusedError);
    expect((err as RolesAnywhereRefusedError).reason).toBe('certificate-untrusted');
    clock.offsetMs = 0;
  });
});
