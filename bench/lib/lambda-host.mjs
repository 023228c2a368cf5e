/**
 * Plays the Lambda service for a built issuer bundle, in a plain `node` process (no tsx, so
 * its memory is the bundle's): an SQS event source with `concurrency` invocations in flight,
 * each handed up to `batch` messages received from the queue, deleted once the handler says
 * they are done (received and deleted several at a time, as Lambda's pollers do). Counts
 * every HTTP request the handler's invocations send, by AWS service (from the SigV4
 * credential scope) and to the CA, measures each invocation's duration (what Lambda bills)
 * and the process's peak RSS, and prints one JSON line. Started by
 * bench/lib/pipeline.ts (for bench/renewals.ts and bench/cost.ts), never by hand:
 *
 *   node bench/lib/lambda-host.mjs '{"bundle": ".../issuer/index.mjs", "queueUrl": "...", ...}'
 *
 * The handler's environment (endpoints, bucket, table, CA) comes from process.env.
 */
import diagnostics from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { setInterval } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { sqsEvent } from '../../scripts/stand-in-stack/sqs-event.mjs';
import { requestKind } from './aws-request-kind.mjs';

const config = JSON.parse(process.argv[2] ?? '{}');
const { bundle, queueUrl, expect, concurrency = 1, batch = 1, caOrigin } = config;
if (!bundle || !queueUrl || !expect) throw new Error('lambda-host: bundle, queueUrl and expect are required');

/**
 * Requests the handler sends, by "service operation": every request of this process but the
 * host's own (its SQS client says so in its User-Agent). Not told apart by an
 * AsyncLocalStorage: that turns on promise hooks, which would tax the code being measured.
 */
const calls = {};
const HOST_AGENT = 'certkeeper-bench-host';
diagnostics.subscribe('http.client.request.start', ({ request }) => {
  if (String(request.getHeader('user-agent') ?? '').includes(HOST_AGENT)) return;
  const key = requestKind(request, caOrigin);
  calls[key] = (calls[key] ?? 0) + 1;
});

const { handler } = await import(pathToFileURL(bundle).href);
const sqs = new SQSClient({ customUserAgent: HOST_AGENT });

const durations = [];
const records = [];
let done = 0;
let failed = 0;
let claimed = 0;

/**
 * The event source mapping's pollers: one ReceiveMessage for as many messages as this host's
 * invocations can take at once (up to 10, the most SQS returns), shared by the invocations
 * that wait, and deletes sent as many at a time, as Lambda's pollers do on AWS's side. Each
 * invocation gets at most `batch` messages.
 */
const perCall = Math.min(10, concurrency * batch);
const received = [];
let receiving;
async function take(n) {
  while (received.length === 0) {
    receiving ??= sqs
      .send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: perCall, WaitTimeSeconds: 0 }),
      )
      .then((got) => received.push(...(got.Messages ?? [])))
      .finally(() => (receiving = undefined));
    await receiving;
    if (received.length === 0) await sleep(50);
  }
  return received.splice(0, n);
}

const finished = [];
async function deleteFinished(all = false) {
  while (finished.length >= perCall || (all && finished.length > 0)) {
    const entries = finished.splice(0, perCall);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: entries.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
}

async function worker() {
  while (claimed < expect) {
    const want = Math.min(batch, expect - claimed);
    claimed += want;
    const messages = await take(want);
    claimed -= want - messages.length;
    const event = sqsEvent(messages);
    const started = performance.now();
    const response = await handler(event);
    durations.push(performance.now() - started);
    records.push(messages.length);
    const failures = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    failed += failures.size;
    done += messages.length - failures.size;
    finished.push(...messages.filter((m) => !failures.has(m.MessageId)));
    await deleteFinished();
  }
}

// Peak RSS sampled: the kernel's maxRSS of a spawned child starts at its parent's size.
let rssPeak = 0;
const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 10);
sampler.unref();

const began = performance.now();
const cpuBefore = process.cpuUsage();
await Promise.all(Array.from({ length: concurrency }, () => worker()));
await deleteFinished(true);
const elapsedMs = performance.now() - began;
const cpu = process.cpuUsage(cpuBefore);
console.log(
  JSON.stringify({
    elapsedMs,
    done,
    failed,
    invocations: durations.length,
    durationsMs: durations,
    recordsPerInvocation: records,
    calls,
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxRssKb: Math.max(rssPeak, process.memoryUsage().rss) / 1024,
  }),
);
