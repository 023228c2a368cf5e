import type { AgentInboxes } from '../shared/agents/inbox.js';
import type { AgentRegistry } from '../shared/agents/registry.js';
import type { AgentReportStore } from '../shared/fleet/report-store.js';
import type { Clock } from '../shared/model/clock.js';

/**
 * What an operator command reaches of the agents' side of a stack (cli/context.ts), beside
 * the Lambdas' own composition (agents.ts): the registry, the fleet table and the enrolment
 * endpoint, as far as the environment names them. The SDK client and adapters are loaded
 * here, when a command connects, not when the CLI starts.
 */
export interface OperatorAgentParts {
  /** The agent registry (the stack's table). */
  registry: AgentRegistry;
  /** The fleet table's inboxes and reports; only when the fleet table is known. */
  fleet: { inboxes: AgentInboxes; reports: AgentReportStore } | undefined;
  /** Where join tokens send servers, and the stack's region; only when the endpoint is known. */
  enrolment: { url: string; region: string } | undefined;
}

export async function operatorAgentParts(env: NodeJS.ProcessEnv, clock: Clock): Promise<OperatorAgentParts> {
  const [{ DynamoDBClient }, { DynamoAgentRegistry }, { DynamoAgentInboxes }, { DynamoAgentReports }] =
    await Promise.all([
      import('@aws-sdk/client-dynamodb'),
      import('../shared/agents/dynamodb.js'),
      import('../shared/agents/inbox-dynamodb.js'),
      import('../shared/fleet/reports-dynamodb.js'),
    ]);
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const client = new DynamoDBClient(region ? { region } : {});
  const fleetTable = env.CERTKEEPER_FLEET_TABLE;
  const fleetOptions = fleetTable ? { client, tableName: fleetTable, clock } : undefined;
  return {
    registry: new DynamoAgentRegistry({ client, tableName: env.CERTKEEPER_TABLE!, clock }),
    fleet: fleetOptions && {
      inboxes: new DynamoAgentInboxes(fleetOptions),
      reports: new DynamoAgentReports(fleetOptions),
    },
    enrolment: env.CERTKEEPER_ENROL_URL
      ? { url: env.CERTKEEPER_ENROL_URL, region: region ?? regionOfUrl(env.CERTKEEPER_ENROL_URL) }
      : undefined,
  };
}

/** A function URL names its region (https://<id>.lambda-url.<region>.on.aws/). */
const regionOfUrl = (url: string): string =>
  /\.lambda-url\.([a-z0-9-]+)\.on\.aws/.exec(url)?.[1] ?? 'us-east-1';
