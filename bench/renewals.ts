/**
 * Fleet throughput: certificates (half IP over http-01, half DNS names over dns-01, every
 * identifier distinct so Pebble reuses no authorization) declared in the inventory, queued
 * by the scheduler bundle's tick, and issued by the built issuer bundle in a plain node
 * process that plays Lambda (bench/lambda-host.mjs) at concurrency 1, 5 and 10; beside each,
 * the ceiling: a bare acme-client loop on the same Pebble with the same polling (PollSchedule
 * and Retry-After) and nothing else (no queue, lock, store or events). Prints certificates/s,
 * the ratio, AWS and ACME requests per issuance and the host's peak RSS. Not a test.
 *
 *   npm run bench:renewals -- [--count 1000] [--concurrency 1,5,10] [--rounds 4]
 *                             [--issuer-bundle FILE] [--no-ceiling]
 *
 * --count is per concurrency level and per side, split into --rounds rounds that alternate
 * the sides, so a change in the machine's load weighs on both; the ratio printed is the
 * median of the rounds'. --issuer-bundle runs another build of the issuer (e.g. from an
 * older commit) for its request counts.
 */
import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { ListSubscriptionsByTopicCommand, UnsubscribeCommand } from '@aws-sdk/client-sns';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import acme from 'acme-client';
import type { ScheduledEvent } from 'aws-lambda';
import { PollSchedule } from '../shared/acme/poll.js';
import { installTransport, retryAfterOf, trustCaForOrigin } from '../shared/acme/transport.js';
import { declareCertificate } from '../shared/usecases/declare-certificates.js';
import { type Http01Responder, startHttp01Responder } from '../shared/challenges/http01/responder.js';
import { DynamoInventory } from '../shared/inventory/dynamodb.js';
import type { CertificateSpec } from '../shared/model/spec.js';
import { createCsr } from '../shared/pki/csr.js';
import { generateKey } from '../shared/pki/keys.js';
import { http01Key } from '../shared/store/keys.js';
import { S3ObjectStore } from '../shared/store/s3-store.js';
import type { ObjectStore } from '../shared/store/store.js';
import { buildLambdas } from '../infra/bundle.js';
import { median } from './measure.js';
import { scheduledEvent } from '../scripts/local/pipeline.js';
import { type LocalStack, subscribeNewQueue } from '../scripts/local/stack.js';
import { runToEnd } from '../scripts/peer-kit/child.js';
import { peers } from '../scripts/peer-kit/peers.js';
import { createPeerStack } from '../scripts/peer-kit/stack.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ZONE = 'bench.test';

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
  stack: LocalStack;
  inventory: DynamoInventory;
  issuerBundle: string;
  scheduler: (event: ScheduledEvent) => Promise<unknown>;
  cleanup(): Promise<void>;
}

/** A local stack, the built bundles and the scheduler bundle loaded in this process. */
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
async function listenOn(ips: string[], store: ObjectStore): Promise<Http01Responder[]> {
  const port = peers().pebble.httpPort;
  return Promise.all(ips.map((host) => startHttp01Responder({ store, host, port })));
}

async function inBatches<T>(items: T[], size: number, work: (item: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: size }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

/** Runs the issuer bundle in bench/lambda-host.mjs until `expect` messages are handled. */
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
    [join(REPO, 'bench', 'lambda-host.mjs'), JSON.stringify(config)],
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
              MessageBody: JSON.stringify({ certificate: spec.name, force: true }),
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

/**
 * The ceiling: acme-client alone, with certkeeper's HTTP policy (Pebble wants a User-Agent)
 * and the same PollSchedule honouring Retry-After; tokens served from memory, TXT records
 * written straight to Route53 (the test DNS server reads them from there).
 */
async function runCeiling(bench: Bench, run: number, count: number, concurrency: number): Promise<number> {
  const p = peers();
  installTransport();
  trustCaForOrigin(p.pebble.directoryUrl, p.pebble.caPem);
  const client = new acme.Client({
    directoryUrl: p.pebble.directoryUrl,
    accountKey: await acme.crypto.createPrivateEcdsaKey(),
  });
  await client.createAccount({ termsOfServiceAgreed: true });
  const tokens = new Map<string, string>();
  const memory: ObjectStore = {
    get: async (key) => tokens.get(key),
    put: async (key, body) => void tokens.set(key, body),
    delete: async (key) => void tokens.delete(key),
  };
  const zoneId = bench.stack.zoneIds[ZONE]!;
  const txt = (action: 'UPSERT' | 'DELETE', name: string, value: string) =>
    bench.stack.clients.route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: {
          Changes: [
            {
              Action: action,
              ResourceRecordSet: {
                Name: `_acme-challenge.${name}`,
                Type: 'TXT',
                TTL: 60,
                ResourceRecords: [{ Value: `"${value}"` }],
              },
            },
          ],
        },
      }),
    );
  const poll = async <T extends { status: string }>(
    url: string,
    retryAfterMs: number | undefined,
    check: () => Promise<T>,
  ): Promise<T> => {
    const schedule = new PollSchedule();
    for (let retryAfter = retryAfterMs; ;) {
      const step = schedule.next(retryAfter);
      if ('stop' in step) throw new Error(`${url} is still pending`);
      await sleep(step.wait);
      const fresh = await check();
      if (fresh.status === 'valid' || fresh.status === 'ready') return fresh;
      if (fresh.status === 'invalid') throw new Error(`${url} is invalid`);
      retryAfter = retryAfterOf(fresh);
    }
  };

  const ips = Array.from({ length: count }, (_, i) => identifierFor(run, i).ip).filter(
    (x) => x !== undefined,
  );
  const responders = await listenOn(ips, memory);
  try {
    const started = performance.now();
    await inBatches(
      Array.from({ length: count }, (_, i) => i),
      concurrency,
      async (i) => {
        const id = identifierFor(run, i);
        const identifier = id.ip
          ? { type: 'ip' as const, value: id.ip }
          : { type: 'dns' as const, value: id.dns! };
        const keyPem = generateKey('ecdsa-p256');
        const csr = await createCsr([identifier], keyPem);
        let order = await client.createOrder({
          identifiers: [identifier],
          profile: id.ip ? 'shortlived' : 'classic',
        } as Parameters<typeof client.createOrder>[0]);
        const [authz] = await client.getAuthorizations(order);
        const challenge = authz!.challenges.find((c) => c.type === (id.ip ? 'http-01' : 'dns-01'))!;
        const value = await client.getChallengeKeyAuthorization(challenge);
        if (id.ip) tokens.set(http01Key(challenge.token), value);
        else await txt('UPSERT', id.dns!, value);
        const answered = await client.completeChallenge(challenge);
        await poll(authz!.url, retryAfterOf(answered), async () => {
          const [fresh] = await client.getAuthorizations({ authorizations: [authz!.url] } as typeof order);
          return fresh!;
        });
        order = await client.getOrder(order);
        order = await client.finalizeOrder(order, csr);
        if (order.status !== 'valid') {
          const finalized = order;
          order = await poll(order.url, retryAfterOf(order), () => client.getOrder(finalized));
        }
        await client.getCertificate(order);
        if (id.ip) tokens.delete(http01Key(challenge.token));
        else await txt('DELETE', id.dns!, value);
      },
    );
    return performance.now() - started;
  } finally {
    await Promise.all(responders.map((r) => r.close()));
  }
}

const mib = (kb: number) => (kb / 1024).toFixed(0);

const PEERS = ['pebble', 'moto', 'dynamodb', 'dns'] as const;

/** CPU seconds (user + system) each local peer has used so far, from /proc (Linux). */
function peerCpu(): Record<string, number> {
  const envFile = process.env.CERTKEEPER_PEERS_ENV;
  const out: Record<string, number> = {};
  if (!envFile) return out;
  for (const peer of PEERS) {
    try {
      const pid = readFileSync(join(dirname(envFile), `${peer}.pid`), 'utf8')
        .split('\n')[0]!
        .trim();
      // Fields after the command name: state is field 3, utime 14, stime 15 (clock ticks).
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[peer] = (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // Peers started elsewhere (npm run peers start in another shell): no figure.
    }
  }
  return out;
}

const cpuSince = (before: Record<string, number>): Record<string, number> => {
  const now = peerCpu();
  return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - (before[k] ?? 0)]));
};

/** Requests per issuance by service, from the host's counts. */
export function perIssuance(calls: Record<string, number>, issued: number): Map<string, number> {
  const byService = new Map<string, number>();
  for (const [key, n] of Object.entries(calls)) {
    const service = key.split(' ')[0]!;
    byService.set(service, (byService.get(service) ?? 0) + n / issued);
  }
  return byService;
}

/** What one side (pipeline or ceiling) did over a concurrency level's rounds. */
interface Side {
  issued: number;
  ms: number;
  node: number;
  peers: Record<string, number>;
}

const addPeers = (into: Record<string, number>, more: Record<string, number>) => {
  for (const [k, v] of Object.entries(more)) into[k] = (into[k] ?? 0) + v;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '1,5,10' },
      rounds: { type: 'string', default: '4' },
      'issuer-bundle': { type: 'string' },
      'no-ceiling': { type: 'boolean', default: false },
    },
  });
  const count = Number(values.count);
  const rounds = Number(values.rounds);
  const levels = values.concurrency.split(',').map(Number);
  if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a whole number >= 1');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > count) {
    throw new Error('--rounds must be a whole number from 1 to --count');
  }
  if (levels.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('--concurrency: e.g. 1,5,10');
  // Rounds alternate the sides (pipeline, ceiling, ceiling, pipeline, ...) so a change in the
  // machine's load during a level weighs on both; the ratio quoted is the median of the rounds'.
  const sizes = Array.from(
    { length: rounds },
    (_, r) => Math.floor(count / rounds) + (r < count % rounds ? 1 : 0),
  );

  const began = performance.now();
  const bench = await setUpBench('bench-renewals', values['issuer-bundle']);
  const rows: string[] = [];
  const cpuRows: string[] = [];
  const allCalls: Record<string, number> = {};
  let allIssued = 0;
  try {
    console.log(
      `${count} certificates per level and side in ${rounds} alternating rounds (half IP/http-01, half DNS/dns-01, all distinct) on Pebble; issuer ${bench.issuerBundle}`,
    );
    for (const [index, concurrency] of levels.entries()) {
      const pipeline: Side = { issued: 0, ms: 0, node: 0, peers: {} };
      const ceiling: Side = { issued: 0, ms: 0, node: 0, peers: {} };
      const ratios: string[] = [];
      const roundRatios: number[] = [];
      let maxRssKb = 0;
      const levelCalls: Record<string, number> = {};
      for (const [round, size] of sizes.entries()) {
        // Identifiers stay distinct across every round, side and level (identifierFor's run).
        const run = (index * rounds + round) * 2;
        const runPipelineRound = async () => {
          const peersBefore = peerCpu();
          const result = await runPipeline(bench, run, size, { concurrency, batch: 1 });
          addPeers(pipeline.peers, cpuSince(peersBefore));
          for (const failure of result.failures.slice(0, 5)) console.log(`  not issued: ${failure}`);
          for (const [k, n] of Object.entries(result.report.calls)) levelCalls[k] = (levelCalls[k] ?? 0) + n;
          pipeline.issued += result.issued;
          pipeline.ms += result.report.elapsedMs;
          pipeline.node += result.report.cpuMs / 1000;
          maxRssKb = Math.max(maxRssKb, result.report.maxRssKb);
          return result.issued / (result.report.elapsedMs / 1000);
        };
        const runCeilingRound = async () => {
          const peersBefore = peerCpu();
          const selfBefore = process.cpuUsage();
          const ms = await runCeiling(bench, run + 1, size, concurrency);
          const self = process.cpuUsage(selfBefore);
          addPeers(ceiling.peers, cpuSince(peersBefore));
          ceiling.issued += size;
          ceiling.ms += ms;
          ceiling.node += (self.user + self.system) / 1e6;
          return size / (ms / 1000);
        };
        let rate: number;
        let ceilingRate: number | undefined;
        if (values['no-ceiling']) rate = await runPipelineRound();
        else if (round % 2 === 0) {
          rate = await runPipelineRound();
          ceilingRate = await runCeilingRound();
        } else {
          ceilingRate = await runCeilingRound();
          rate = await runPipelineRound();
        }
        if (ceilingRate !== undefined) {
          roundRatios.push(rate / ceilingRate);
          ratios.push(`${((rate / ceilingRate) * 100).toFixed(0)}%`);
        }
        console.log(
          `  concurrency ${concurrency}, round ${round + 1}/${rounds}: ${rate.toFixed(2)}/s` +
            (ceilingRate === undefined
              ? ''
              : `, ceiling ${ceilingRate.toFixed(2)}/s, ratio ${ratios.at(-1)}`),
        );
      }
      for (const [k, n] of Object.entries(levelCalls)) allCalls[k] = (allCalls[k] ?? 0) + n;
      allIssued += pipeline.issued;
      const cpu = (side: Side, n: number) =>
        [
          `node ${(side.node / n).toFixed(3)}`,
          ...PEERS.map((p) => `${p} ${((side.peers[p] ?? 0) / n).toFixed(3)}`),
        ].join(', ');
      cpuRows.push(`  concurrency ${concurrency}: pipeline ${cpu(pipeline, Math.max(pipeline.issued, 1))}`);
      if (ceiling.issued > 0) {
        cpuRows.push(
          `  ${''.padStart(`concurrency ${concurrency}`.length)}  ceiling  ${cpu(ceiling, ceiling.issued)}`,
        );
      }
      const rate = pipeline.issued / (pipeline.ms / 1000);
      const ceilingRate = ceiling.issued > 0 ? ceiling.issued / (ceiling.ms / 1000) : undefined;
      const per = perIssuance(levelCalls, pipeline.issued);
      const aws = [...per].filter(([s]) => s !== 'acme' && s !== 'other').reduce((a, [, n]) => a + n, 0);
      rows.push(
        [
          String(concurrency).padStart(11),
          `${pipeline.issued}/${count}`.padStart(9),
          rate.toFixed(2).padStart(10),
          (ceilingRate?.toFixed(2) ?? '-').padStart(10),
          (roundRatios.length ? `${(median(roundRatios) * 100).toFixed(0)}%` : '-').padStart(7),
          (ratios.join(' ') || '-').padStart(rounds * 4 + 2),
          aws.toFixed(1).padStart(10),
          (per.get('acme') ?? 0).toFixed(1).padStart(10),
          mib(maxRssKb).padStart(9),
        ].join(' '),
      );
    }
  } finally {
    await bench.cleanup();
  }
  console.log('');
  console.log(
    `${'concurrency'.padStart(11)} ${'issued'.padStart(9)} ${'certs/s'.padStart(10)} ${'ceiling/s'.padStart(10)} ${'ratio'.padStart(7)} ${'by round'.padStart(rounds * 4 + 2)} ${'AWS/cert'.padStart(10)} ${'ACME/cert'.padStart(10)} ${'RSS MiB'.padStart(9)}`,
  );
  for (const row of rows) console.log(row);
  console.log("certs/s and ceiling/s: all rounds together; ratio: the median of the rounds' ratios");
  console.log('');
  console.log(`requests per issuance by service and operation (all levels, ${allIssued} issued):`);
  for (const [key, n] of Object.entries(allCalls).sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`  ${key.padEnd(40)} ${(n / allIssued).toFixed(2)}`);
  }
  console.log('');
  console.log('CPU seconds per issuance (this machine has 2 cores; the peers stand in for AWS and the CA):');
  for (const row of cpuRows) console.log(row);
  console.log(
    `RSS: peak of the node process hosting the issuer bundle (all its concurrent invocations); total ${((performance.now() - began) / 1000).toFixed(0)} s`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
}
