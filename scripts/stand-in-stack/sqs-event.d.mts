import type { Message } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';

/** An SQS event as Lambda's event source hands it over (see sqs-event.mjs). */
export function sqsEvent(
  messages: readonly Pick<Message, 'MessageId' | 'Body' | 'ReceiptHandle'>[],
): SQSEvent;
