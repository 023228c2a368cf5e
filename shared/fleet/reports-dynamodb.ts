import {
  type AttributeValue,
  DeleteItemCommand,
  PutItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { type DynamoTableOptions, sendDynamo } from '../dynamo/call.js';
import { REPORT_KEY_PREFIX, reportKey } from '../dynamo/fleet-table.js';
import { S } from '../dynamo/item.js';
import { PARTITION_KEY } from '../dynamo/table.js';
import { asCertkeeperError } from '../model/errors.js';
import { type AgentReport, parseAgentReport, serializeAgentReport } from './report.js';
import { type AgentReportStore, type ReportRead, unknownAgent } from './report-store.js';

/**
 * Reports on the fleet table (`report#<agent>`, see dynamo/fleet-table.ts): a PutItem of a
 * kilobyte costs a sixth of an S3 PUT, which is what lets an agent report every few minutes
 * within its idle budget, and the fleet tick reads them all with a Scan instead of a GET each.
 */
export class DynamoAgentReports implements AgentReportStore {
  readonly location: string;

  constructor(private readonly table: DynamoTableOptions) {
    this.location = `dynamodb://${table.tableName}`;
  }

  async put(report: AgentReport): Promise<void> {
    const k = reportKey(report.agent);
    await sendDynamo(this.table, { operation: 'PutItem', key: k }, () =>
      this.table.client.send(
        new PutItemCommand({
          TableName: this.table.tableName,
          Item: { [PARTITION_KEY]: S(k), report: S(serializeAgentReport(report)), at: S(report.at) },
        }),
      ),
    );
  }

  async list(known: (agent: string) => boolean): Promise<ReportRead> {
    const reports = new Map<string, AgentReport>();
    const ignored: ReportRead['ignored'] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await sendDynamo(this.table, { operation: 'Scan', key: `${REPORT_KEY_PREFIX}*` }, () =>
        this.table.client.send(
          new ScanCommand({
            TableName: this.table.tableName,
            FilterExpression: 'begins_with(#pk, :prefix)',
            ExpressionAttributeNames: { '#pk': PARTITION_KEY },
            ExpressionAttributeValues: { ':prefix': S(REPORT_KEY_PREFIX) },
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of out.Items ?? []) {
        const k = item[PARTITION_KEY]?.S ?? '?';
        const key = `${this.location}/${k}`;
        const agent = k.slice(REPORT_KEY_PREFIX.length);
        if (!known(agent)) {
          ignored.push({ key, reason: unknownAgent(agent) });
          continue;
        }
        try {
          // A DynamoDB item is at most 400 KB, so this read is bounded; parseAgentReport
          // refuses anything over the report limit.
          reports.set(agent, parseAgentReport(item.report?.S ?? '', agent));
        } catch (err) {
          ignored.push({ key, reason: asCertkeeperError(err).describe() });
        }
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return { reports, ignored };
  }

  async remove(agent: string): Promise<void> {
    const k = reportKey(agent);
    await sendDynamo(this.table, { operation: 'DeleteItem', key: k }, () =>
      this.table.client.send(
        new DeleteItemCommand({ TableName: this.table.tableName, Key: { [PARTITION_KEY]: S(k) } }),
      ),
    );
  }
}
