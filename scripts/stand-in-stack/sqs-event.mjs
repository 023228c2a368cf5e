/**
 * An SQS event as Lambda's event source hands it to a function, for the messages received
 * from a queue. Plain JavaScript so that bench/lib/lambda-host.mjs, which runs a built bundle
 * in a plain `node` process, and the tests' stand-in pipeline (pipeline.ts) build the same one.
 */
import { randomUUID } from 'node:crypto';

export function sqsEvent(messages) {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId ?? randomUUID(),
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'certkeeper-scheduler',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:certkeeper-issuer',
      awsRegion: 'us-east-1',
    })),
  };
}
