/**
 * An IAM Roles Anywhere stand-in set up as certkeeper's stack sets up the real service: a
 * trust anchor holding the agents' CA, a profile granting one agent role, both enabled.
 * Stopped by the test file's scratch cleanup.
 */
import { RolesAnywhereClient } from '@aws-sdk/client-rolesanywhere';
import {
  type RolesAnywhereStandIn,
  standInClientConfig,
  startRolesAnywhereStandIn,
} from '../../scripts/peers/roles-anywhere/index.js';
import type { RolesAnywhereTarget } from '../../shared/identity/roles-anywhere.js';
import type { Clock } from '../../shared/model/clock.js';
import { type AgentCa, createAgentCa } from './agent-identity.js';
import { trustAgentsCa } from '../../scripts/test-kit/agents.js';
import { peers, uniqueName } from '../../scripts/test-kit/peers.js';
import type { scratch } from './scratch.js';

/** Real time moved by an offset: the service's clock (skew tests) or one shared with an agent. */
export class OffsetClock implements Clock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  /** Sets the clock `msBefore` before `at` (negative: after it). */
  moveTo(at: Date, msBefore: number): void {
    this.offsetMs = at.getTime() - msBefore - Date.now();
  }
}

export interface RolesAnywhereFixture {
  readonly standIn: RolesAnywhereStandIn;
  /** @aws-sdk/client-rolesanywhere, against the stand-in. */
  readonly control: RolesAnywhereClient;
  /** The agents' CA, registered as the trust anchor. */
  readonly ca: AgentCa;
  readonly roleName: string;
  /** What an agent's createSession needs (the stand-in's TLS CA included). */
  readonly target: RolesAnywhereTarget;
}

export async function rolesAnywhereFixture(
  work: ReturnType<typeof scratch>,
  options: { clock?: Clock } = {},
): Promise<RolesAnywhereFixture> {
  const standIn = await startRolesAnywhereStandIn({
    stsEndpoint: peers().motoEndpoint,
    clock: options.clock,
  });
  work.defer(() => standIn.close());
  const control = new RolesAnywhereClient(standInClientConfig(standIn));
  work.defer(() => control.destroy());
  const ca = await createAgentCa('fleet');
  const roleName = uniqueName('certkeeper-agent');
  const trusted = await trustAgentsCa(
    control,
    ca.certPem,
    `arn:aws:iam::${standIn.accountId}:role/${roleName}`,
  );
  return {
    standIn,
    control,
    ca,
    roleName,
    target: {
      region: standIn.region,
      endpoint: standIn.endpoint,
      ...trusted,
      caPem: standIn.caCertPem,
    },
  };
}
