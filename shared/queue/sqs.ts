import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { CertkeeperError } from '../model/errors.js';
import type { WorkMessageInput, WorkQueue } from './queue.js';

/** SQS accepts at most 10 entries per SendMessageBatch. */
const BATCH = 10;

export class SqsWorkQueue implements WorkQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async enqueue(messages: readonly WorkMessageInput[]): Promise<void> {
    for (let i = 0; i < messages.length; i += BATCH) {
      let entries = messages
        .slice(i, i + BATCH)
        .map((m, j) => ({ Id: String(i + j), MessageBody: JSON.stringify(m) }));
      // A batch can partly fail (throttling); resend the failed entries once before giving up.
      for (let attempt = 0; entries.length > 0; attempt++) {
        const out = await this.sqs.send(
          new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }),
        );
        const failed = new Set((out.Failed ?? []).map((f) => f.Id));
        if (failed.size === 0) break;
        if (attempt === 1) {
          const first = out.Failed?.[0];
          throw new CertkeeperError(
            'unreachable',
            `SQS refused ${failed.size} message(s): ${first?.Code} ${first?.Message ?? ''}`,
            {
              retryable: true,
            },
          );
        }
        entries = entries.filter((e) => failed.has(e.Id));
      }
    }
  }
}
