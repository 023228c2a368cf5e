import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import * as z from 'zod';
import { syncCertificates } from '../shared/usecases/declare-certificates.js';
import { DynamoInventory } from '../shared/inventory/dynamodb.js';
import { systemClock } from '../shared/model/clock.js';
import { ValidationError } from '../shared/model/errors.js';
import { parseJson } from '../shared/model/json.js';
import { parseCertificateSpec } from '../shared/model/spec.js';
import { AGENT_NAME_PATTERN, emptyDelivery } from '../shared/model/delivery.js';

/**
 * CloudFormation custom resource (behind the CDK Provider framework): on every deploy the
 * certificates declared in certkeeper.config.json are written to the inventory and the ones
 * removed are retired. Deleting the stack changes nothing: the table and the bucket are
 * retained, and so is every certificate and key.
 */
const logger = new Logger({ serviceName: 'certkeeper-inventory-sync' });
const env = z.object({ CERTKEEPER_TABLE: z.string().min(3), AWS_REGION: z.string().default('us-east-1') });

export const handler = async (
  event: CloudFormationCustomResourceEvent,
): Promise<{ PhysicalResourceId: string; Data?: Record<string, number> }> => {
  const physicalId = 'certkeeper-inventory';
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalId };
  const { CERTKEEPER_TABLE, AWS_REGION } = env.parse(process.env);
  const specs = parseDeclared(event.ResourceProperties['Certificates']);
  const inventory = new DynamoInventory({
    client: new DynamoDBClient({ region: AWS_REGION }),
    tableName: CERTKEEPER_TABLE,
  });
  const result = await syncCertificates(inventory, specs, systemClock);
  logger.info('inventory synchronised', { ...result });
  return {
    PhysicalResourceId: physicalId,
    Data: {
      Declared: result.declared.length,
      Revived: result.revived.length,
      Retired: result.retired.length,
    },
  };
};

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
