/**
 * Fleet throughput: certificates (half IP over http-01, half DNS names over dns-01, every
 * identifier distinct so Pebble reuses no authorization) declared in the inventory, queued
 * by the scheduler bundle's tick, and issued by the built issuer bundle in a plain node
 * process that plays Lambda (bench/lib/lambda-host.mjs) at concurrency 1, 5 and 10; beside each,
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
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import acme from 'acme-client';
import { PollSchedule } from '../shared/acme/poll.js';
import { AcmeTransport } from '../shared/acme/transport.js';
import { systemClock } from '../shared/model/clock.js';
import { createCsr } from '../shared/pki/csr.js';
import { generateKey } from '../shared/pki/private-keys.js';
import { http01Key } from '../shared/store/layout.js';
import type { ObjectStore } from '../shared/store/store.js';
import { peers } from '../scripts/test-kit/peers.js';
import { median } from './lib/measure.js';
import {
  type Bench,
  identifierFor,
  inBatches,
  listenOn,
  perIssuance,
  runPipeline,
  setUpBench,
  ZONE,
} from './lib/pipeline.js';

/**
 * The ceiling: acme-client alone, with certkeeper's HTTP policy (Pebble wants a User-Agent)
 * and the same PollSchedule honouring Retry-After; tokens served from memory, TXT records
 * written straight to Route53 (the test DNS server reads them from there).
 */
async function runCeiling(bench: Bench, run: number, count: number, concurrency: number): Promise<number> {
  const p = peers();
  const transport = new AcmeTransport({ clock: systemClock });
  transport.trust(p.pebble.directoryUrl, p.pebble.caPem);
  const retryAfterOf = (body: unknown) => transport.retryAfterOf(body);
  const client = transport.attach(
    new acme.Client({
      directoryUrl: p.pebble.directoryUrl,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
    }),
  );
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
