/**
 * The renewal pipeline on the built bundles, for the benchmarks that measure it
 * (bench/renewals.ts, bench/cost.ts): a stand-in stack on the peers, certificates declared in
 * its inventory, the scheduler bundle's tick, and the built issuer bundle run in a plain node
 * process that plays Lambda (lambda-host.mjs), with every request counted.
 */
import diagnostics from 'node:diagnostics_channel';
import { forcedRenewal } from '../../shared/queue/queue.js';
import { mkdtempSync, rmSync } from 'node:fs';
import type { ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ListSubscriptionsByTopicCommand, UnsubscribeCommand } from '@aws-sdk/client-sns';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { ScheduledEvent } from 'aws-lambda';
import { buildLambdas } from '../../infra/bundle.js';
import { type Http01Responder, startHttp01Responder } from '../../shared/challenges/http01/responder.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import type { CertificateSpec } from '../../shared/model/spec.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import type { ObjectStore } from '../../shared/store/store.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { scheduledEvent } from '../../scripts/stand-in-stack/pipeline.js';
import { type StandInStack, subscribeNewQueue } from '../../scripts/stand-in-stack/stack.js';
import { runToEnd } from '../../scripts/test-kit/child.js';
import { peers } from '../../scripts/test-kit/peers.js';
import { createPeerStack } from '../../scripts/test-kit/stack.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The hosted zone of the runs' DNS names. */
export const ZONE = 'bench.test';

export interface HostReport {
  elapsedMs: number;
  done: number;
  failed: number;
  invocations: number;
  durationsMs: number[];
  recordsPerInvocation: number[];
  calls: Record<string, number>;
  /** CPU time (user + system) of the host process over the run. */
  cpuMs: number;
  maxRssKb: number;
  /** Bytes the handlers wrote to stdout (their logs), besides the report line. */
  logBytes: number;
}

export interface Bench {
  stack: StandInStack;
  inventory: DynamoInventory;
  issuerBundle: string;
  scheduler: (event: ScheduledEvent) => Promise<unknown>;
  cleanup(): Promise<void>;
}

/** A stand-in stack, the built bundles and the scheduler bundle loaded in this process. */
export async function setUpBench(id: string, issuerBundle?: string): Promise<Bench> {
  const stack = await createPeerStack(id, [ZONE]);
  Object.assign(process.env, stack.env, {
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
    // Powertools writes metrics to stdout otherwise; the host prints one JSON line there.
    POWERTOOLS_METRICS_NAMESPACE: 'certkeeper-bench',
  });
  const out = mkdtempSync(join(tmpdir(), 'certkeeper-bench-'));
  const built = await buildLambdas({
    outDir: out,
    only: issuerBundle ? ['scheduler'] : ['issuer', 'scheduler'],
  });
  const file = (name: string) => built.find((b) => b.name === name)!.file;
  const scheduler = (await import(pathToFileURL(file('scheduler')).href)) as {
    handler: (event: ScheduledEvent) => Promise<unknown>;
  };
  return {
    stack,
    inventory: new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table }),
    issuerBundle: issuerBundle ? resolve(issuerBundle) : file('issuer'),
    scheduler: scheduler.handler,
    cleanup: async () => rmSync(out, { recursive: true, force: true }),
  };
}

/** Certificate i of a run: even ones a distinct loopback IP (http-01), odd ones a DNS name (dns-01). */
export function identifierFor(run: number, i: number): { ip?: string; dns?: string } {
  if (i % 2 === 0) {
    const n = i / 2;
    return { ip: `127.${20 + run}.${1 + Math.floor(n / 250)}.${1 + (n % 250)}` };
  }
  return { dns: `r${run}-${i}.${ZONE}` };
}

/**
 * AWS requests this process sends until stop(), by "service operation" (the SigV4 scope and
 * X-Amz-Target): the scheduler's tick, which runs alone while it is counted.
 */
function countRequests(): { stop(): Record<string, number> } {
  const calls: Record<string, number> = {};
  const listener = (message: unknown) => {
    const { request } = message as { request: ClientRequest };
    const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(
      String(request.getHeader('authorization') ?? ''),
    );
    if (!scope) return;
    const target =
      String(request.getHeader('x-amz-target') ?? '')
        .split('.')
        .pop() || request.method;
    const key = `${scope[1]} ${target}`;
    calls[key] = (calls[key] ?? 0) + 1;
  };
  diagnostics.subscribe('http.client.request.start', listener);
  return {
    stop: () => {
      diagnostics.unsubscribe('http.client.request.start', listener);
      return calls;
    },
  };
}

/** Pebble connects to <ip>:<httpPort> for http-01: one loopback listener per IP of the run. */
export async function listenOn(ips: string[], store: ObjectStore): Promise<Http01Responder[]> {
  const port = peers().pebble.httpPort;
  return Promise.all(ips.map((host) => startHttp01Responder({ store, host, port })));
}

export async function inBatches<T>(
  items: T[],
  size: number,
  work: (item: T) => Promise<unknown>,
): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: size }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

/** Runs the issuer bundle in lambda-host.mjs until `expect` messages are handled. */
export async function runHost(
  bench: Bench,
  options: { expect: number; concurrency: number; batch: number },
  env: Record<string, string> = {},
): Promise<HostReport> {
  const config = {
    bundle: bench.issuerBundle,
    queueUrl: bench.stack.queueUrl,
    caOrigin: new URL(peers().pebble.directoryUrl).origin,
    ...options,
  };
  const { code, stdout, stderr } = await runToEnd(
    process.execPath,
    [join(REPO, 'bench', 'lib', 'lambda-host.mjs'), JSON.stringify(config)],
    { cwd: REPO, env: { ...process.env, NODE_OPTIONS: '', ...env } },
  );
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{"elapsedMs"'));
  if (code !== 0 || !line) throw new Error(`lambda-host exited ${code}:\n${stderr}\n${stdout}`);
  return {
    ...(JSON.parse(line) as HostReport),
    logBytes: Buffer.byteLength(stdout) - Buffer.byteLength(line) - 1,
  };
}

/**
 * An empty queue in place of the topic's subscriber, as if a notifier had taken the events
 * so far: moto scans a queue's every message on each SNS delivery to it (SQS does not), so
 * a queue nobody drains would slow each run more than the one before. (PurgeQueue is
 * allowed once a minute.)
 */
async function freshTap(bench: Bench, run: string): Promise<void> {
  const { sns } = bench.stack.clients;
  const { topicArn } = bench.stack;
  const subscribed = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn }));
  for (const { SubscriptionArn } of subscribed.Subscriptions ?? []) {
    await sns.send(new UnsubscribeCommand({ SubscriptionArn }));
  }
  await subscribeNewQueue(bench.stack.clients, topicArn, `bench-tap-${run}`);
}

/** Declares the run's certificates, ticks the scheduler, and has the host issue them all. */
export async function runPipeline(
  bench: Bench,
  run: number,
  count: number,
  host: {
    concurrency: number;
    batch: number;
    keyType?: string;
    env?: Record<string, string>;
    /** Then renew every certificate once more (force messages, as `certkeeper renew --force`) and report that pass. */
    renewAfter?: boolean;
    /** Added to `env` for the reported pass only (bench/cost.ts: its DynamoDB capacity proxy). */
    measuredEnv?: Record<string, string>;
  },
): Promise<{
  report: HostReport;
  issued: number;
  specs: CertificateSpec[];
  tickCalls: Record<string, number>;
  failures: string[];
}> {
  const specs: CertificateSpec[] = [];
  const ips: string[] = [];
  await inBatches(
    Array.from({ length: count }, (_, i) => i),
    16,
    async (i) => {
      const id = identifierFor(run, i);
      if (id.ip) ips.push(id.ip);
      specs.push(
        await declareCertificate(
          bench.inventory,
          id.ip
            ? { name: `p${run}-${i}`, identifiers: [id.ip], keyType: host.keyType }
            : { name: `p${run}-${i}`, identifiers: [id.dns], profile: 'classic', keyType: host.keyType },
        ),
      );
    },
  );
  await freshTap(bench, `${run}`);
  // The agent's part: serve http-01 tokens from the bucket.
  const objects = new S3ObjectStore(bench.stack.clients.s3, { bucket: bench.stack.bucket });
  const responders = await listenOn(ips, objects);
  try {
    const counted = countRequests();
    const tick = (await bench.scheduler(scheduledEvent())) as { enqueued: string[] };
    const tickCalls = counted.stop();
    if (tick.enqueued.length !== count) {
      throw new Error(`the scheduler queued ${tick.enqueued.length} certificates, expected ${count}`);
    }
    const options = { expect: count, concurrency: host.concurrency, batch: host.batch };
    const measuredEnv = { ...host.env, ...host.measuredEnv };
    let report = await runHost(bench, options, host.renewAfter ? host.env : measuredEnv);
    const serials = new Map<string, string | undefined>();
    if (host.renewAfter) {
      await inBatches(specs, 16, async (spec) => {
        serials.set(spec.name, (await bench.inventory.get(spec.name))?.state.current?.serial);
      });
      for (let i = 0; i < specs.length; i += 10) {
        await bench.stack.clients.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: bench.stack.queueUrl,
            Entries: specs.slice(i, i + 10).map((spec, j) => ({
              Id: String(j),
              MessageBody: JSON.stringify(forcedRenewal(spec.name, new Date())),
            })),
          }),
        );
      }
      await freshTap(bench, `${run}-again`);
      report = await runHost(bench, options, measuredEnv);
    }
    let issued = 0;
    const failures: string[] = [];
    await inBatches(specs, 16, async (spec) => {
      const state = (await bench.inventory.get(spec.name))?.state;
      const serial = state?.current?.serial;
      const fresh = serial !== undefined && (!host.renewAfter || serials.get(spec.name) !== serial);
      if (fresh && state?.status === 'valid' && state.attempts === 0) issued += 1;
      else failures.push(`${spec.name}: ${state?.lastError?.detail ?? state?.status ?? 'no state'}`);
    });
    return { report, issued, specs, tickCalls, failures };
  } finally {
    await Promise.all(responders.map((r) => r.close()));
  }
}

/** Requests per issuance by service, from the host's counts. */
export function perIssuance(calls: Record<string, number>, issued: number): Map<string, number> {
  const byService = new Map<string, number>();
  for (const [key, n] of Object.entries(calls)) {
    const service = key.split(' ')[0]!;
    byService.set(service, (byService.get(service) ?? 0) + n / issued);
  }
  return byService;
}
