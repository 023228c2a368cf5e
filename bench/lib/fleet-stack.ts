/**
 * The stand-in stack bench/fleet.ts runs against: the stack's bucket, table, queues and
 * topic on the peers (useStandInStack), the agents' side of it (createAgentsStack: the fleet
 * table, the deliver queue, the agents' CA on moto's KMS), the Roles Anywhere stand-in
 * holding that CA as its trust anchor with a profile for the one agent role (as the stack's
 * CDK sets up the real service), and the identity function behind an HTTP server (its
 * function URL). Also the registry agents the fleet tick is measured with beyond the ones
 * that run: registered and reporting through the adapters directly, no identity needed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_VERSION } from '../../agent/report.js';
import { DynamoAgentRegistry } from '../../shared/agents/dynamodb.js';
import { newDeliveryKey } from '../../shared/agents/envelope.js';
import { joinedRecord, newAgentRecord } from '../../shared/agents/records.js';
import { DynamoAgentReports } from '../../shared/fleet/reports-dynamodb.js';
import { newSerial } from '../../shared/identity/x509.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import type { AgentSelector } from '../../shared/model/agent.js';
import {
  type RolesAnywhereStandIn,
  startRolesAnywhereStandIn,
} from '../../scripts/peers/roles-anywhere/index.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import {
  type AgentsStack,
  createAgentsStack,
  pointAgentFunctionsAt,
  serveIdentity,
  standInTrust,
} from '../../scripts/test-kit/agents.js';
import { pebbleRoots, peers, uniqueName } from '../../scripts/test-kit/peers.js';
import { useStandInStack } from '../../scripts/test-kit/stack.js';
import { inBatches } from './pipeline.js';

export interface FleetStack {
  stack: StandInStack;
  agents: AgentsStack;
  standIn: RolesAnywhereStandIn;
  identityUrl: string;
  registry: DynamoAgentRegistry;
  inventory: DynamoInventory;
  reports: DynamoAgentReports;
  zone: string;
  /** Pebble's root (PEM, and the file that is the agents' trustedCaFile), and where the agents' directories go. */
  rootPem: string;
  rootsFile: string;
  workDir: string;
  close(): Promise<void>;
}

export async function setUpFleetStack(): Promise<FleetStack> {
  const zone = `${uniqueName('fleet')}.test`;
  const stack = await useStandInStack('bench-fleet', [zone]);
  const standIn = await startRolesAnywhereStandIn({ stsEndpoint: peers().motoEndpoint });
  const agents = await createAgentsStack(stack, {
    rolesAnywhere: standInTrust(standIn, uniqueName('certkeeper-agents')),
  });
  try {
    pointAgentFunctionsAt(agents);
    const identity = await serveIdentity();
    const workDir = mkdtempSync(join(shmOrTmp(), 'certkeeper-bench-fleet-'));
    const rootsFile = join(workDir, 'roots.pem');
    const rootPem = (await pebbleRoots()).root;
    writeFileSync(rootsFile, rootPem);
    const table = { client: stack.clients.dynamodb, tableName: stack.table };
    return {
      stack,
      agents,
      standIn,
      identityUrl: identity.url,
      registry: new DynamoAgentRegistry(table),
      inventory: new DynamoInventory(table),
      reports: new DynamoAgentReports({ client: stack.clients.dynamodb, tableName: agents.fleetTable }),
      zone,
      rootPem,
      rootsFile,
      workDir,
      close: async () => {
        await identity.close();
        await standIn.close();
        rmSync(workDir, { recursive: true, force: true });
        for (const client of Object.values(stack.clients)) client.destroy();
      },
    };
  } catch (error) {
    await standIn.close();
    throw error;
  }
}

/** tmpfs when the machine has one: the agents' fsyncs then cost what they would on their own disks. */
function shmOrTmp(): string {
  try {
    rmSync(mkdtempSync('/dev/shm/certkeeper-probe-'), { recursive: true });
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/**
 * Agents in the registry as if they had joined (active, an identity, a delivery key), with
 * no server behind them: what the fleet tick and the deliver function see of a large fleet.
 */
export async function registerAgents(
  fleet: FleetStack,
  names: readonly string[],
  selector: AgentSelector,
): Promise<void> {
  await inBatches([...names], 16, async (name) => {
    const now = new Date();
    const identity = {
      serial: newSerial(),
      notBefore: now.toISOString(),
      notAfter: new Date(now.getTime() + 7 * 86_400_000).toISOString(),
      issuedAt: now.toISOString(),
    };
    await fleet.registry.update(name, () =>
      joinedRecord(newAgentRecord(name, selector, 'cli', now), identity, newDeliveryKey().publicKeyDer, now),
    );
  });
}

/** What each of those agents would report once it installed `serial`. */
export async function reportInstalled(
  fleet: FleetStack,
  names: readonly string[],
  certificate: string,
  installed: { serial: string; notAfter: string },
  reportIntervalSeconds: number,
): Promise<void> {
  await inBatches([...names], 16, async (agent) => {
    const at = new Date().toISOString();
    await fleet.reports.put({
      version: 1,
      agent,
      host: `${agent}.bench`,
      agentVersion: AGENT_VERSION,
      at,
      pollIntervalSeconds: reportIntervalSeconds,
      certificates: {
        [certificate]: {
          installedSerial: installed.serial,
          installedNotAfter: installed.notAfter,
          lastAction: 'installed',
          checkedAt: at,
        },
      },
    });
  });
}
