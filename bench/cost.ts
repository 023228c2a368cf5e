/**
 * What 1,000 renewals cost on AWS (us-east-1, arm64), from measurement: certificates issued
 * through the scheduler bundle's tick, the queue and the built issuer bundle (in
 * bench/lambda-host.mjs, batches of 5 as the event source mapping sends them), counting
 * every request per service and each invocation's duration. Not a test: it prints the
 * figures, the prices used beside them, and the assumptions.
 *
 *   npm run bench:cost -- [--count 1000] [--memory 256] [--batch 5] [--concurrency 2]
 *                         [--ca-wait-ms 5000] [--key-type ecdsa-p256|rsa4096]
 *
 * Billed duration on Lambda: each invocation's measured wall time, with its CPU share
 * stretched to the vCPU fraction the memory buys (1,769 MB = 1 vCPU; waiting on the CA and
 * on AWS is not stretched), rounded up to the millisecond. Pebble validates at once
 * (PEBBLE_VA_NOSLEEP); a public CA takes seconds, so the table is printed twice: as
 * measured, and with --ca-wait-ms more waiting per invocation (its batch waits together).
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { perIssuance, runPipeline, setUpBench } from './renewals.js';

/** us-east-1 list prices (USD) as published in 2025; check the AWS pricing pages before quoting. */
const PRICE = {
  lambdaGbSecondArm: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  s3Put: 0.005 / 1000, // PUT, COPY, POST, LIST (PutObjectTagging is PUT class)
  s3Get: 0.0004 / 1000, // GET and all other requests; DELETE is free
  kmsRequest: 0.03 / 10_000,
  dynamoWru: 0.625 / 1e6, // on-demand
  dynamoRru: 0.125 / 1e6,
  sqsRequest: 0.4 / 1e6,
  snsPublish: 0.5 / 1e6, // delivery to SQS is free
  route53Query: 0.4 / 1e6, // standard queries; the Route53 API itself is free
  logsGb: 0.5, // CloudWatch Logs ingestion, standard class
};

/**
 * Request units per call, for items the size certkeeper writes (a certificate item is
 * under 2 KB, a lock item under 1 KB): GetItem strongly consistent, 1 RRU; UpdateItem, 2 WRU
 * (an upper bound: the lease's updates touch the 1 KB lock item, 1 WRU, and only the outbox's
 * clearing write the 2 KB certificate item; the host sees operations, not items); the fenced
 * state write, a transaction of a condition check and an update (2 WRU each, 2 KB item) plus
 * the due-index write.
 */
const DYNAMO_UNITS: Record<string, { rru?: number; wru?: number }> = {
  GetItem: { rru: 1 },
  Query: { rru: 0.5 }, // per call; the tick's Query reads ~1 item per due certificate (see bench:tick)
  UpdateItem: { wru: 2 },
  TransactWriteItems: { wru: 2 * 1 + 2 * 2 + 1 },
  PutItem: { wru: 1 },
};

/** DNS queries a public CA makes per dns-01 validation: several perspectives, TXT and CAA. */
const CA_DNS_QUERIES_PER_VALIDATION = 10;

const usd = (n: number) => `$${n.toFixed(n < 0.001 ? 6 : 4)}`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '1000' },
      memory: { type: 'string', default: '256' },
      batch: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '2' },
      'ca-wait-ms': { type: 'string', default: '5000' },
      'key-type': { type: 'string', default: 'ecdsa-p256' },
    },
  });
  const count = Number(values.count);
  const memoryMb = Number(values.memory);
  const batch = Number(values.batch);
  const concurrency = Number(values.concurrency);
  const caWaitMs = Number(values['ca-wait-ms']);
  for (const [flag, v] of Object.entries({ count, memory: memoryMb, batch, concurrency })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${flag} must be a whole number >= 1`);
  }
  if (!Number.isFinite(caWaitMs) || caWaitMs < 0) throw new Error('--ca-wait-ms must be >= 0');

  const began = performance.now();
  const bench = await setUpBench('bench-cost');
  let result;
  try {
    console.log(
      `${count} certificates (half IP/http-01, half DNS/dns-01, ${values['key-type']}) issued through the scheduler, SQS and the issuer bundle, then each renewed once (measured); batches of ${batch}, ${concurrency} in flight`,
    );
    result = await runPipeline(bench, 0, count, {
      concurrency,
      batch,
      keyType: values['key-type'],
      // The handlers log at INFO as deployed, so their log volume is measured too.
      env: { POWERTOOLS_LOG_LEVEL: 'INFO' },
      // Renewals, not first issues: with a certificate in place (replaces, the supersede tags).
      renewAfter: true,
    });
    for (const failure of result.failures.slice(0, 5)) console.log(`  not renewed: ${failure}`);
  } finally {
    await bench.cleanup();
  }
  const { report, issued } = result;
  // The renewal pass was queued by hand (force); the scheduler's share is that of its tick.
  const tickCalls = result.tickCalls;
  if (issued === 0) throw new Error('nothing was issued');
  const scale = 1000 / issued;

  // Billed duration per invocation: waiting as measured, CPU stretched to the Lambda's share.
  const vcpu = Math.min(1, memoryMb / 1769);
  const cpuPerInvocation = report.cpuMs / report.invocations;
  const billed = (extraWaitMs: number) =>
    report.durationsMs.reduce(
      (sum, d) => sum + Math.ceil(Math.max(d - cpuPerInvocation, 0) + cpuPerInvocation / vcpu + extraWaitMs),
      0,
    );

  const calls = new Map<string, number>();
  for (const source of [report.calls, tickCalls]) {
    for (const [key, n] of Object.entries(source)) calls.set(key, (calls.get(key) ?? 0) + n);
  }
  const sum = (pred: (service: string, op: string) => boolean) =>
    [...calls]
      .filter(([k]) => pred(k.split(' ')[0]!, k.split(' ').slice(1).join(' ')))
      .reduce((a, [, n]) => a + n, 0);

  const s3Put = sum((s, op) => s === 's3' && op.startsWith('PUT'));
  const s3Get = sum((s, op) => s === 's3' && (op.startsWith('GET') || op.startsWith('HEAD')));
  let rru = 0;
  let wru = 0;
  for (const [key, n] of calls) {
    const [service, op] = key.split(' ');
    if (service !== 'dynamodb') continue;
    rru += (DYNAMO_UNITS[op!]?.rru ?? 1) * n;
    wru += (DYNAMO_UNITS[op!]?.wru ?? 0) * n;
  }
  // The event source mapping receives and deletes once per batch (its idle polling is a
  // fixed cost, not a per-renewal one); the scheduler's sends were counted.
  const sqs = sum((s) => s === 'sqs') + 2 * report.invocations;
  const sns = sum((s) => s === 'sns');
  // SSE-KMS: with the bucket key the stack enables S3 rarely calls KMS; counted here as one
  // GenerateDataKey per private key written (an upper bound), plus any client-side call.
  const kms = sum((s) => s === 'kms') + issued;
  const dnsValidations = count - Math.ceil(count / 2);
  const route53Queries = dnsValidations * CA_DNS_QUERIES_PER_VALIDATION;
  const logGb = report.logBytes / 1024 ** 3;

  const rows = (extraWaitMs: number) => {
    const gbSeconds = (billed(extraWaitMs) / 1000) * (memoryMb / 1024);
    return [
      [
        'Lambda compute',
        `${((gbSeconds * scale) / (memoryMb / 1024)).toFixed(0)} s at ${memoryMb} MB`,
        `${PRICE.lambdaGbSecondArm}/GB-s`,
        gbSeconds * PRICE.lambdaGbSecondArm,
      ],
      [
        'Lambda requests',
        `${(report.invocations * scale).toFixed(0)} invocations`,
        '$0.20/M',
        report.invocations * PRICE.lambdaRequest,
      ],
      ['S3 PUT class', `${(s3Put * scale).toFixed(0)}`, '$0.005/1k', s3Put * PRICE.s3Put],
      ['S3 GET class', `${(s3Get * scale).toFixed(0)}`, '$0.0004/1k', s3Get * PRICE.s3Get],
      ['KMS', `${(kms * scale).toFixed(0)} (upper bound)`, '$0.03/10k', kms * PRICE.kmsRequest],
      ['DynamoDB writes', `${(wru * scale).toFixed(0)} WRU`, '$0.625/M WRU', wru * PRICE.dynamoWru],
      ['DynamoDB reads', `${(rru * scale).toFixed(0)} RRU`, '$0.125/M RRU', rru * PRICE.dynamoRru],
      ['SQS', `${(sqs * scale).toFixed(0)}`, '$0.40/M', sqs * PRICE.sqsRequest],
      ['SNS', `${(sns * scale).toFixed(0)} publishes`, '$0.50/M', sns * PRICE.snsPublish],
      [
        'Route53 queries',
        `${(route53Queries * scale).toFixed(0)} (assumed)`,
        '$0.40/M',
        route53Queries * PRICE.route53Query,
      ],
      [
        'CloudWatch Logs',
        `${((report.logBytes * scale) / 1024).toFixed(0)} KB`,
        '$0.50/GB',
        logGb * PRICE.logsGb,
      ],
    ] as [string, string, string, number][];
  };

  const print = (title: string, extraWaitMs: number) => {
    const table = rows(extraWaitMs);
    console.log('');
    console.log(title);
    console.log(
      `  ${'service'.padEnd(17)} ${'per 1,000 renewals'.padEnd(26)} ${'price'.padEnd(16)} ${'cost'.padStart(10)}`,
    );
    let total = 0;
    for (const [service, amount, price, cost] of table) {
      total += cost * scale;
      console.log(
        `  ${service.padEnd(17)} ${amount.padEnd(26)} ${price.padEnd(16)} ${usd(cost * scale).padStart(10)}`,
      );
    }
    console.log(
      `  ${'total'.padEnd(17)} ${''.padEnd(26)} ${''.padEnd(16)} ${usd(total).padStart(10)}   (target < $0.05)`,
    );
  };

  const durations = [...report.durationsMs].sort((a, b) => a - b);
  console.log('');
  console.log(
    `issued ${issued}/${count} in ${report.invocations} invocations; invocation wall time median ${(durations[Math.floor(durations.length / 2)]! / 1000).toFixed(2)} s; host CPU ${(cpuPerInvocation / 1000).toFixed(2)} s per invocation (stretched x${(1 / vcpu).toFixed(1)} at ${memoryMb} MB); peak RSS ${(report.maxRssKb / 1024).toFixed(0)} MiB`,
  );
  const per = perIssuance(report.calls, issued);
  console.log(
    `requests per renewal: ${[...per].map(([s, n]) => `${s} ${n.toFixed(1)}`).join(', ')}; scheduler tick: ${Object.entries(
      tickCalls,
    )
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
  );
  print(`cost of 1,000 renewals, CA as fast as Pebble here (validation in milliseconds)`, 0);
  print(
    `cost of 1,000 renewals, CA taking ${caWaitMs / 1000} s more per invocation (validation + finalization)`,
    caWaitMs,
  );
  console.log(
    `\nnot per renewal: the scheduler's ticks (8,640 a month at 5 minutes) and the event source mapping's idle polling; total ${((performance.now() - began) / 1000).toFixed(0)} s`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
