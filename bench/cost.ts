/**
 * What 1,000 renewals cost on AWS (us-east-1, arm64), from measurement: certificates issued
 * through the scheduler bundle's tick, the queue and the built issuer bundle (in
 * bench/lib/lambda-host.mjs, batches of 5 as the event source mapping sends them), counting
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
import { type CapacityRecorder, recordCapacity } from './lib/dynamo-capacity.js';
import { perIssuance, runPipeline, setUpBench } from './lib/pipeline.js';
import { LAMBDA_MB_PER_VCPU, PRICE } from './lib/prices.js';

/**
 * The issuer's request units are measured (bench/lib/dynamo-capacity.ts: DynamoDB Local's own
 * accounting, table and due index, per request). The scheduler tick's few calls run outside
 * the host and are priced per call: its Query reads about one item per due certificate
 * (bench:tick), its heartbeat PutItem is one small item.
 */
const TICK_UNITS: Record<string, { rru?: number; wru?: number }> = {
  Query: { rru: 0.5 },
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
  let capacity: CapacityRecorder | undefined;
  try {
    capacity = await recordCapacity(bench.stack.env.AWS_ENDPOINT_URL_DYNAMODB!);
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
      measuredEnv: { AWS_ENDPOINT_URL_DYNAMODB: capacity.endpoint },
    });
    for (const failure of result.failures.slice(0, 5)) console.log(`  not renewed: ${failure}`);
  } finally {
    await capacity?.close();
    await bench.cleanup();
  }
  const { report, issued } = result;
  // The renewal pass was queued by hand (force); the scheduler's share is that of its tick.
  const tickCalls = result.tickCalls;
  if (issued === 0) throw new Error('nothing was issued');
  const scale = 1000 / issued;

  // Billed duration per invocation: waiting as measured, CPU stretched to the Lambda's share.
  const vcpu = Math.min(1, memoryMb / LAMBDA_MB_PER_VCPU);
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

  // LIST is billed as PUT class.
  const s3Put = sum((s, op) => s === 's3' && (op.startsWith('PUT') || op === 'LIST'));
  const s3Get = sum((s, op) => s === 's3' && (op.startsWith('GET') || op.startsWith('HEAD')));
  const measured = [...capacity.lines];
  let rru = measured.reduce((a, [, l]) => a + l.rru, 0);
  let wru = measured.reduce((a, [, l]) => a + l.tableWru + l.indexWru, 0);
  for (const [key, n] of Object.entries(tickCalls)) {
    const [service, op] = key.split(' ');
    if (service !== 'dynamodb') continue;
    rru += (TICK_UNITS[op!]?.rru ?? 1) * n;
    wru += (TICK_UNITS[op!]?.wru ?? 1) * n;
  }
  // The event source mapping receives and deletes once per batch (its idle polling is a
  // fixed cost, not a per-renewal one); the scheduler's sends were counted.
  const sqs = sum((s) => s === 'sqs') + 2 * report.invocations;
  const sns = sum((s) => s === 'sns');
  // SSE-KMS under an S3 Bucket Key (every secret PUT asks for one, s3-store.ts): S3 asks KMS
  // for a bucket-level key per requester and period, not a data key per object. Counted as
  // one GenerateDataKey per invocation (an invocation lasts seconds, a bucket key longer),
  // plus any client-side call. Without a bucket key it would be one per secret object: 2 per
  // renewal (the kept key and privkey.pem).
  const kms = sum((s) => s === 'kms') + report.invocations;
  const dnsValidations = count - Math.ceil(count / 2);
  // Pebble reuses a valid authorization for half the orders unless PEBBLE_AUTHZREUSE=0; a CA
  // that validates every renewal (Let's Encrypt reuses authorizations for 7 h under the
  // shortlived profile, 30 days under classic: neither spans a fleet's renewal interval)
  // writes one http-01 token per http-01 renewal. Route53 queries above already assume that.
  const httpRenewals = Math.ceil(count / 2) * (issued / count);
  const unvalidated = Math.max(0, httpRenewals - sum((s, op) => s === 's3' && op === 'PUT http-01 token'));
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
      ['KMS', `${(kms * scale).toFixed(0)} (bucket key, <= 1/inv.)`, '$0.03/10k', kms * PRICE.kmsRequest],
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
    if (unvalidated > 0) {
      console.log(
        `  ${'total, every renewal validated'.padEnd(61)} ${usd(total + unvalidated * PRICE.s3Put * scale).padStart(10)}   (+${((unvalidated * scale) / 1000).toFixed(2)} http-01 token PUT per renewal)`,
      );
    }
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
  const s3Calls = [...calls].filter(([k]) => k.startsWith('s3 ')).sort(([a], [b]) => a.localeCompare(b));
  console.log(
    `S3 requests per renewal: ${s3Calls.map(([k, n]) => `${k.slice(3)} ${(n / issued).toFixed(2)}`).join(', ')}`,
  );
  console.log(
    '\nDynamoDB per renewal (units as DynamoDB Local charged them; bytes: the item read, or the state attribute written)',
  );
  console.log(
    `  ${'request'.padEnd(58)} ${'calls'.padStart(5)} ${'table WRU'.padStart(9)} ${'index WRU'.padStart(9)} ${'RRU'.padStart(5)} ${'bytes'.padStart(6)}`,
  );
  for (const [label, l] of measured.sort(([a], [b]) => a.localeCompare(b))) {
    const per = (n: number) => (n / issued).toFixed(2);
    console.log(
      `  ${label.padEnd(58)} ${per(l.calls).padStart(5)} ${per(l.tableWru).padStart(9)} ${per(l.indexWru).padStart(9)} ${per(l.rru).padStart(5)} ${(l.sized ? (l.bytes / l.sized).toFixed(0) : '').padStart(6)}`,
    );
  }
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
