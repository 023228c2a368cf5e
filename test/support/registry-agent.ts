/**
 * A registry agent as `agent join` leaves one, made directly for tests that exercise what
 * comes after the join (deliveries, the inbox, the agent's checks) without the identity
 * endpoint: an identity key and client certificate from an in-memory CA, a delivery key,
 * the files in identity/, and the registry record that says the agent is active.
 */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import type { AgentConfigInput } from '../../agent/config.js';
import { saveIdentity } from '../../agent/identity.js';
import { newDeliveryKey } from '../../shared/agents/envelope.js';
import { joinedRecord, newAgentRecord } from '../../shared/agents/records.js';
import type { AgentRegistry } from '../../shared/agents/registry.js';
import { LocalCaSigner } from '../../shared/identity/signer.js';
import { agentCertificate, caCertificate, newSerial } from '../../shared/identity/x509.js';
import type { AgentSelector } from '../../shared/model/agent.js';
import { createPublicKey } from 'node:crypto';

export interface TestAgentCa {
  signer: LocalCaSigner;
  pem: string;
}

export async function testAgentCa(): Promise<TestAgentCa> {
  const signer = new LocalCaSigner(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey);
  const now = Date.now();
  const pem = await caCertificate(signer, {
    commonName: 'certkeeper agents (test)',
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 30 * 86_400_000),
  });
  return { signer, pem };
}

/** Joins `name` as the identity endpoint would; returns the `identity` block of its config. */
export async function joinedTestAgent(options: {
  registry: AgentRegistry;
  ca: TestAgentCa;
  name: string;
  selector: AgentSelector;
  dir: string;
  fleetTable: string;
  lifetimeMs?: number;
}): Promise<NonNullable<AgentConfigInput['identity']>> {
  const now = new Date();
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const delivery = newDeliveryKey();
  const serial = newSerial();
  const notAfter = new Date(now.getTime() + (options.lifetimeMs ?? 7 * 86_400_000));
  const certificatePem = await agentCertificate(options.ca.signer, options.ca.pem, {
    agent: options.name,
    subjectKey: createPublicKey(key).export({ type: 'spki', format: 'der' }),
    serial,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
  });
  const directory = join(options.dir, 'identity');
  await saveIdentity(directory, {
    key,
    certificatePem,
    caPem: options.ca.pem,
    deliveryKey: delivery.privateKey,
  });
  const identity = {
    serial,
    notBefore: new Date(now.getTime() - 60_000).toISOString(),
    notAfter: notAfter.toISOString(),
    issuedAt: now.toISOString(),
  };
  await options.registry.update(options.name, (stored) =>
    joinedRecord(
      stored ?? newAgentRecord(options.name, options.selector, 'cli', now),
      identity,
      delivery.publicKeyDer,
      now,
    ),
  );
  return {
    directory,
    enrolUrl: 'http://127.0.0.1:9/unused',
    region: 'us-east-1',
    fleetTable: options.fleetTable,
    trustAnchorArn: 'arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/test',
    profileArn: 'arn:aws:rolesanywhere:us-east-1:123456789012:profile/test',
    roleArn: 'arn:aws:iam::123456789012:role/agents',
  };
}
