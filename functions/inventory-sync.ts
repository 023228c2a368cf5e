import { gunzipSync } from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import * as z from 'zod';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoAgentRegistry } from '../shared/agents/dynamodb.js';
import { KmsCaSigner } from '../shared/identity/kms-signer.js';
import { caCertificate, serialOf } from '../shared/identity/x509.js';
import { parseAgentName, parseSelector } from '../shared/model/agent.js';
import type { DeclaredAgent } from '../shared/config/deployment.js';
import { syncCertificates } from '../shared/usecases/declare-certificates.js';
import { syncConfigAgents } from '../shared/usecases/manage-agents.js';
import { DynamoInventory } from '../shared/inventory/dynamodb.js';
import { systemClock } from '../shared/model/clock.js';
import { ValidationError } from '../shared/model/errors.js';
import { parseJson } from '../shared/model/json.js';
import { parseCertificateSpec } from '../shared/model/spec.js';
import { ObjectPendingKeys } from '../shared/store/pending-keys.js';
import { S3ObjectStore } from '../shared/store/s3-store.js';
import { toLog } from '../composition/aws.js';
import { AGENT_NAME_PATTERN, emptyDelivery } from '../shared/model/delivery.js';

/**
 * CloudFormation custom resources (behind the CDK Provider framework), run on deploy:
 * - Custom::CertkeeperInventory: the certificates declared in certkeeper.config.json are
 *   written to the inventory and the ones removed are retired; the declared agents go into
 *   the registry the same way (agents added at run time are left alone);
 * - Custom::CertkeeperAgentCa: the agents' CA certificate, signed by its KMS key (which
 *   never leaves KMS), returned as the attribute CertificatePem for the trust anchor.
 * Deleting the stack changes nothing: the table, the bucket and the CA key are retained, and
 * so is every certificate and key.
 */
const logger = new Logger({ serviceName: 'certkeeper-inventory-sync' });
const env = z.object({
  CERTKEEPER_TABLE: z.string().min(3),
  /** The bucket, for the keys kept for unfinished orders of the certificates it retires. */
  CERTKEEPER_BUCKET: z.string().min(3).optional(),
  CERTKEEPER_S3_FORCE_PATH_STYLE: z
    .string()
    .optional()
    .transform((v) => v === 'true' || v === '1'),
  AWS_REGION: z.string().default('us-east-1'),
});

export const handler = async (
  event: CloudFormationCustomResourceEvent,
): Promise<{ PhysicalResourceId: string; Data?: Record<string, number | string> }> => {
  if (event.ResourceType === 'Custom::CertkeeperAgentCa') return agentCa(event);
  const physicalId = 'certkeeper-inventory';
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalId };
  const { CERTKEEPER_TABLE, CERTKEEPER_BUCKET, CERTKEEPER_S3_FORCE_PATH_STYLE, AWS_REGION } = env.parse(
    process.env,
  );
  const specs = parseDeclared(event.ResourceProperties['Certificates']);
  const agents = parseAgents(event.ResourceProperties['AgentsGzip']);
  const table = { client: new DynamoDBClient({ region: AWS_REGION }), tableName: CERTKEEPER_TABLE };
  const s3 = new S3Client({ region: AWS_REGION, forcePathStyle: CERTKEEPER_S3_FORCE_PATH_STYLE });
  const retirement = CERTKEEPER_BUCKET
    ? {
        pendingKeys: new ObjectPendingKeys(new S3ObjectStore(s3, { bucket: CERTKEEPER_BUCKET })),
        log: toLog(logger),
      }
    : undefined;
  const result = await syncCertificates(new DynamoInventory(table), specs, systemClock, retirement);
  const registry = await syncConfigAgents(
    { registry: new DynamoAgentRegistry(table), clock: systemClock },
    agents,
  );
  logger.info('inventory synchronised', {
    ...result,
    agents: registry.declared.length,
    agentsRemoved: registry.removed,
  });
  return {
    PhysicalResourceId: physicalId,
    Data: {
      Declared: result.declared.length,
      Revived: result.revived.length,
      Retired: result.retired.length,
      Agents: registry.declared.length,
    },
  };
};

/** The CA lasts ten years; its agents' certificates last days, and are renewed under it. */
const CA_VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000;

/**
 * The agents' CA certificate. A new one on every create or update (the same key and name,
 * so certificates signed under an earlier one still chain to it); nothing to undo on delete.
 */
async function agentCa(
  event: CloudFormationCustomResourceEvent,
): Promise<{ PhysicalResourceId: string; Data?: Record<string, string> }> {
  const keyId = String(event.ResourceProperties['KeyId'] ?? '');
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
  const { AWS_REGION } = env.parse(process.env);
  const now = systemClock.now();
  const pem = await caCertificate(new KmsCaSigner(new KMSClient({ region: AWS_REGION }), keyId), {
    commonName: String(event.ResourceProperties['CommonName'] ?? 'certkeeper agents'),
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + CA_VALIDITY_MS),
  });
  logger.info('agents CA certificate made', { keyId, serial: serialOf(pem) });
  return { PhysicalResourceId: `certkeeper-agent-ca-${serialOf(pem)}`, Data: { CertificatePem: pem } };
}

/** The declared agents as the stack wrote them (gzipped JSON, base64); each selector validated again. */
function parseAgents(raw: unknown): DeclaredAgent[] {
  // Inflated with a bound: the property is ours, but a template is input all the same.
  const text =
    raw === undefined
      ? '[]'
      : gunzipSync(Buffer.from(String(raw), 'base64'), { maxOutputLength: 64 * 1024 * 1024 }).toString(
          'utf8',
        );
  const list = parseJson(text, z.array(z.object({ name: z.string(), selector: z.unknown() })), {
    what: 'AgentsGzip',
    fix: 'redeploy: the stack writes this property',
  });
  return list.map((a, i) => ({
    name: parseAgentName(a.name, `Agents[${i}].name`),
    selector: parseSelector(a.selector as Parameters<typeof parseSelector>[0], `Agents[${i}].selector`),
  }));
}

/** The specs as the stack wrote them (JSON); validated again, as any input crossing a boundary. */
function parseDeclared(raw: unknown) {
  // The list's shape here; each spec is validated below as the operator's input would be.
  const list = parseJson(String(raw ?? '[]'), z.array(z.unknown()), {
    what: 'Certificates',
    fix: 'redeploy: the stack writes this property',
  });
  return list.map((spec: unknown, i) => {
    const field = `Certificates[${i}]`;
    const parsed = parseCertificateSpec(toInput(spec), field);
    // Agents come from the config's `agents` list, not from the certificate's own input.
    const agents = (spec as { delivery?: { agents?: unknown } } | null)?.delivery?.agents;
    if (Array.isArray(agents) && agents.length > 0) {
      agents.forEach((a: unknown, j) => {
        if (typeof a !== 'string' || !AGENT_NAME_PATTERN.test(a)) {
          throw new ValidationError(`${field}.delivery.agents[${j}]`, 'is not an agent name', 'redeploy');
        }
      });
      parsed.delivery = { ...(parsed.delivery ?? emptyDelivery()), agents: agents as string[] };
    }
    return parsed;
  });
}

/** A stored CertificateSpec carries typed identifiers; the input schema takes strings. */
function toInput(spec: unknown): unknown {
  if (typeof spec !== 'object' || spec === null) return spec;
  const { delivery, ...s } = spec as {
    identifiers?: unknown;
    delivery?: { probes?: unknown; acmRegions?: unknown };
  };
  const identifiers = Array.isArray(s.identifiers)
    ? s.identifiers.map((i: unknown) => (typeof i === 'object' && i !== null && 'value' in i ? i.value : i))
    : s.identifiers;
  // The stored delivery's probes ({ host, port, sni }) and regions are valid input as they are.
  return Object.fromEntries(
    Object.entries({ ...s, identifiers, probes: delivery?.probes, acmRegions: delivery?.acmRegions }).filter(
      ([, v]) => v !== undefined && v !== null,
    ),
  );
}
