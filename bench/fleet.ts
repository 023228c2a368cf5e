/**
 * A fleet of registry agents on this machine: how long a renewal takes to reach them, what
 * the fleet tick costs at 1,000 and 10,000 agents, and what an idle agent costs a month. Not
 * a test: it prints figures, the targets beside them (issue 19's benchmark).
 *
 *   npm run bench:fleet -- [--agents 1000] [--event-poll 20] [--renewals 5]
 *                          [--poll-interval 300] [--report-interval 900] [--idle-seconds S]
 *                          [--tick-agents 1000,10000] [--real-agents 5] [--enrol-concurrency 8]
 *
 * The agents (bench/lib/fleet-agents.ts) run in this process: each joins through the identity
 * function with a one-time token, has its own client certificate, its own Roles Anywhere
 * session from the stand-in and its own DynamoDB and S3 clients, polls its inbox, opens and
 * verifies its envelope and reports. --real-agents of them are the real agent in registry mode
 * (files installed, no nginx), the others light (the agent's loop and pieces, in memory): the
 * real ones check that the light ones deliver and poll as the agent does. The stack's
 * functions run in a second process (bench/lib/fleet-lambdas.ts):
 * the issuer on a forced renewal (Pebble, DNS-01), and the deliver function pumped from its
 * queue continuously. The fleet tick runs as its built Lambda bundle in a plain node process
 * (bench/lib/fleet-tick-host.mjs), its DynamoDB reads priced by DynamoDB Local's own count.
 *
 * "Stored" is when a HeadObject of certificates/<name>/current.json (every 20 ms) first sees
 * the new manifest; "installed" is when the agent logs the new serial installed.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildLambdas } from '../infra/bundle.js';
import { parseCertificateSpec } from '../shared/model/spec.js';
import { declareSpec } from '../shared/usecases/declare-certificates.js';
import {
  type CapacityLine,
  type CapacityRecorder,
  type Json,
  recordCapacity,
} from './lib/dynamo-capacity.js';
import {
  enrolAgent,
  type FleetContext,
  RequestCounter,
  type SimulatedAgent,
  startAgent,
} from './lib/fleet-agents.js';
import { type DeliverySample, percentile, secs } from './lib/fleet-figures.js';
import type { LambdaReply, LambdaRequest, LambdaSideConfig } from './lib/fleet-lambdas.js';
import {
  FLEET_MB,
  type Options,
  type Renewal,
  type TickRun,
  printDelivery,
  printIdle,
  printTicks,
} from './lib/fleet-print.js';
import { type FleetStack, registerAgents, reportInstalled, setUpFleetStack } from './lib/fleet-stack.js';
import { inBatches } from './lib/pipeline.js';

const CERTIFICATE = 'edge';
const SELECTOR = { certificates: [], labels: { role: 'edge' } };

const began = Date.now();
const progress = (message: string) =>
  console.error(`[${((Date.now() - began) / 1000).toFixed(0).padStart(5)} s] ${message}`);

function options(): Options {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '1000' },
      'event-poll': { type: 'string', default: '20' },
      'poll-interval': { type: 'string', default: '300' },
      'report-interval': { type: 'string', default: '900' },
      renewals: { type: 'string', default: '5' },
      'idle-seconds': { type: 'string' },
      'tick-agents': { type: 'string', default: '1000,10000' },
      'enrol-concurrency': { type: 'string', default: '8' },
      'real-agents': { type: 'string', default: '5' },
    },
  });
  const whole = (flag: keyof typeof values, min = 1): number => {
    const n = Number(values[flag]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} must be a whole number >= ${min}`);
    return n;
  };
  const pollInterval = whole('poll-interval');
  const ticks = (values['tick-agents'] ?? '')
    .split(',')
    .filter(Boolean)
    .map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1)
        throw new Error('--tick-agents must list whole numbers, e.g. 1000,10000');
      return n;
    });
  return {
    agents: whole('agents'),
    eventPoll: whole('event-poll'),
    pollInterval,
    reportInterval: whole('report-interval'),
    renewals: whole('renewals', 0),
    // A whole poll interval by default: every agent's periodic check falls in it exactly once.
    idleSeconds: values['idle-seconds'] === undefined ? pollInterval : whole('idle-seconds'),
    tickAgents: [...new Set(ticks)].sort((a, b) => a - b),
    enrolConcurrency: whole('enrol-concurrency'),
    realAgents: whole('real-agents', 0),
  };
}

/** Agent names spread evenly through the name order (the deliver function serves them in it). */
const nameOf = (i: number) => `edge-${createHash('sha256').update(String(i)).digest('hex').slice(0, 10)}`;

/** The Lambda side over IPC: requests answered in order, deliveries and errors collected. */
class LambdaSide {
  readonly pumped: Extract<LambdaReply, { op: 'pumped' }>[] = [];
  readonly errors: string[] = [];
  private waiting: {
    op: LambdaReply['op'];
    request?: LambdaRequest['op'];
    resolve: (r: LambdaReply) => void;
    reject: (err: Error) => void;
  }[] = [];

  constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: LambdaReply) => {
      if (reply.op === 'pumped') this.pumped.push(reply);
      else if (reply.op === 'error') this.errors.push(reply.message);
      if (reply.op === 'failed') {
        for (const w of this.waiting.filter((w) => w.request === reply.request)) {
          w.reject(new Error(`${reply.request} failed on the Lambda side: ${reply.message}`));
        }
        this.waiting = this.waiting.filter((w) => w.request !== reply.request);
        return;
      }
      const i = this.waiting.findIndex((w) => w.op === reply.op);
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(reply);
    });
    child.on('exit', (code) => {
      for (const w of this.waiting) w.reject(new Error(`the Lambda side exited (${code}) before ${w.op}`));
      this.waiting = [];
    });
  }

  next<T extends LambdaReply['op']>(
    op: T,
    request?: LambdaRequest['op'],
  ): Promise<Extract<LambdaReply, { op: T }>> {
    return new Promise((resolve, reject) =>
      this.waiting.push({ op, request, resolve: resolve as (r: LambdaReply) => void, reject }),
    );
  }

  ask<T extends LambdaReply['op']>(
    request: LambdaRequest,
    answer: T,
  ): Promise<Extract<LambdaReply, { op: T }>> {
    const reply = this.next(answer, request.op);
    this.child.send(request);
    return reply;
  }
}

async function main(): Promise<void> {
  const o = options();
  const uptimeBefore = uptime();
  progress(`${o.agents} agents; setting up the stand-in stack`);
  const fleet = await setUpFleetStack();
  const counter = new RequestCounter();
  const realCounter = new RequestCounter();
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 128 });
  const ctx: FleetContext = {
    registry: fleet.registry,
    identityUrl: fleet.identityUrl,
    region: 'us-east-1',
    endpointCaPem: fleet.standIn.caCertPem,
    endpointCaFile: fleet.standIn.caCertPath,
    rootPem: fleet.rootPem,
    rootsFile: fleet.rootsFile,
    workDir: fleet.workDir,
    certificate: CERTIFICATE,
    intervals: {
      eventPollSeconds: o.eventPoll,
      pollIntervalSeconds: o.pollInterval,
      reportIntervalSeconds: o.reportInterval,
    },
    counter,
    realCounter,
    httpAgent,
  };
  const { clients: _clients, ...plainStack } = fleet.stack;
  const config: LambdaSideConfig = { stack: plainStack, agents: fleet.agents, certificate: CERTIFICATE };
  // DynamoDB's own count of the units the functions use (issuer, deliver; the tick's below).
  const tables = { [fleet.stack.table]: 'deployment', [fleet.agents.fleetTable]: 'fleet' };
  const label = (operation: string, body: Json) => capacityLabel(operation, body, tables);
  const lambdaCapacity = await recordCapacity(fleet.stack.env.AWS_ENDPOINT_URL_DYNAMODB!, label);
  const child = fork(
    fileURLToPath(new URL('./lib/fleet-lambdas.ts', import.meta.url)),
    [JSON.stringify(config)],
    {
      env: { ...process.env, AWS_ENDPOINT_URL_DYNAMODB: lambdaCapacity.endpoint },
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const lambdas = new LambdaSide(child);
  const running: SimulatedAgent[] = [];
  const bundleDir = mkdtempSync(join(tmpdir(), 'certkeeper-bench-fleet-bundle-'));
  let registry = 0;
  try {
    await lambdas.next('ready');
    await declareSpec(
      fleet.inventory,
      parseCertificateSpec({
        name: CERTIFICATE,
        identifiers: [`edge.${fleet.zone}`],
        labels: { role: 'edge' },
      }),
    );
    const issuedAt = Date.now();
    const ticked = await lambdas.ask({ op: 'tick' }, 'ticked');
    const first = (await fleet.inventory.get(CERTIFICATE))?.state.current;
    if (ticked.failures || !first) throw new Error('the first issuance failed (see the issuer log above)');
    const issueMs = Date.now() - issuedAt;
    progress(`certificate ${CERTIFICATE} issued (serial ${first.serial}); enrolling ${o.agents} agents`);

    // ---- Enrolment: each agent joins, gets its session, and starts --------------------------
    const joinMs: number[] = [];
    const sessionMs: number[] = [];
    const enrolStarted = Date.now();
    await inBatches(
      Array.from({ length: o.agents }, (_, i) => i),
      o.enrolConcurrency,
      async (i) => {
        const enrolled = await enrolAgent(ctx, nameOf(i), SELECTOR);
        joinMs.push(enrolled.joinMs);
        const started = Date.now();
        running.push(await startAgent(ctx, enrolled.config, i < o.realAgents));
        sessionMs.push(Date.now() - started);
        if (running.length % 100 === 0) progress(`${running.length} agents joined and running`);
      },
    );
    registry = o.agents;
    const enrolMs = Date.now() - enrolStarted;
    await untilInstalled(running, first.serial, 600_000, 'the first certificate');
    const firstDeliveryMs = Date.now() - enrolStarted;
    progress(`every agent installed serial ${first.serial}`);

    // ---- Renewals ----------------------------------------------------------------------------
    const renewals: Renewal[] = [];
    counter.take();
    realCounter.take();
    const renewalsStarted = { at: Date.now(), cpu: process.cpuUsage() };
    for (let r = 1; r <= o.renewals; r++) {
      renewals.push(await renewOnce(fleet, lambdas, lambdaCapacity, running, registry, o.eventPoll, r));
      progress(
        `renewal ${r}/${o.renewals}: p95 ${secs(
          percentile(
            renewals.at(-1)!.samples.map((s) => s.total),
            95,
          ),
        )}`,
      );
    }

    // ---- Idle window ------------------------------------------------------------------------
    const used = process.cpuUsage(renewalsStarted.cpu);
    const renewalsLoad = {
      cpuMs: (used.user + used.system) / 1000,
      wallMs: Date.now() - renewalsStarted.at,
      loadavg: loadavg()[0]!,
    };
    // The last reports of the last renewal first, so that the window holds none of it.
    await sleep(o.eventPoll * 1000);
    const busy = counter.take();
    realCounter.take();
    progress(`idle window of ${o.idleSeconds} s`);
    await sleep(o.idleSeconds * 1000);
    const idle = counter.take();
    const realIdle = realCounter.take();

    // ---- The fleet tick at each registry size ---------------------------------------------------
    const ticks: TickRun[] = [];
    const topUps: Renewal[] = [];
    if (o.tickAgents.length) {
      progress('building the fleet Lambda bundle');
      const built = await buildLambdas({ outDir: bundleDir, only: ['fleet'] });
      const bundle = built.find((b) => b.name === 'fleet')!.file;
      const capacity = await recordCapacity(fleet.stack.env.AWS_ENDPOINT_URL_DYNAMODB!, label);
      try {
        for (const size of o.tickAgents) {
          if (size < registry) {
            progress(`--tick-agents ${size}: the registry already holds ${registry} agents; skipped`);
            continue;
          }
          if (size > registry) {
            const names = Array.from({ length: size - registry }, (_, i) => nameOf(registry + i));
            progress(
              `registering ${names.length} more agents (no server behind them) for a registry of ${size}`,
            );
            await registerAgents(fleet, names, SELECTOR);
            registry = size;
            const renewal = await renewOnce(
              fleet,
              lambdas,
              lambdaCapacity,
              running,
              registry,
              o.eventPoll,
              100 + topUps.length,
            );
            topUps.push(renewal);
            const direct = Array.from({ length: registry - o.agents }, (_, i) => nameOf(o.agents + i));
            await reportInstalled(fleet, direct, CERTIFICATE, renewal, o.reportInterval);
            progress(`renewal with ${size} in the registry: fan-out ${secs(renewal.fanout.wallMs)}`);
          }
          ticks.push(...(await tickRuns(bundle, capacity, registry)));
          progress(
            `fleet tick at ${registry}: ${ticks
              .map((t) => secs(t.wallMs))
              .slice(-2)
              .join(', ')}`,
          );
        }
      } finally {
        await capacity.close();
      }
    }

    await Promise.all(running.map((a) => a.stop()));
    const lambdaStopped = await lambdas.ask({ op: 'stop' }, 'stopped');
    const errors = running.flatMap((a) => a.seen.errors);

    // ---- Figures -----------------------------------------------------------------------------
    console.log(
      `\nfleet bench: ${o.agents} agents (${Math.min(o.realAgents, o.agents)} of them the real agent with its files, the others light: the agent's loop and hot path in memory), each joined through the identity function with its own client certificate, its own Roles Anywhere session from the stand-in and its own DynamoDB and S3 clients; no nginx`,
    );
    console.log(
      `  eventPollSeconds ${o.eventPoll}, pollIntervalSeconds ${o.pollInterval}, reportIntervalSeconds ${o.reportInterval}; certificate "${CERTIFICATE}" (labels role=edge, DNS-01 on Pebble)`,
    );
    console.log(`  machine: ${cpus().length} cores; uptime before: ${uptimeBefore}; after: ${uptime()}`);
    console.log(
      `  setup: first issuance ${secs(issueMs)}; ${o.agents} joins in ${secs(enrolMs)} (${o.enrolConcurrency} at a time; join median ${secs(percentile(joinMs, 50))}, first session + start median ${secs(percentile(sessionMs, 50))}); every agent installed the first certificate ${secs(firstDeliveryMs)} after the first join`,
    );
    printDelivery(renewals, topUps, o, busy, renewalsLoad);
    printIdle(
      idle,
      realIdle,
      busy,
      o,
      renewals.flatMap((r) => r.samples),
    );
    printTicks(ticks);
    console.log(
      `\n  CPU: the issuer and deliver process ${secs(lambdaStopped.cpuMs)} over the run's ${secs(Date.now() - began)}`,
    );
    const problems = [...errors, ...lambdas.errors];
    console.log(`  errors logged: ${problems.length}${problems.length ? ` (first: ${problems[0]})` : ''}`);
    console.log(`  total: ${secs(Date.now() - began)}`);
  } finally {
    await Promise.all(running.map((a) => a.stop().catch(() => undefined)));
    if (child.connected) child.kill();
    httpAgent.destroy();
    await lambdaCapacity.close();
    rmSync(bundleDir, { recursive: true, force: true });
    await fleet.close();
  }
}

/** Until every agent installed `serial` (from its log), or the deadline. */
async function untilInstalled(
  agents: readonly SimulatedAgent[],
  serial: string,
  timeoutMs: number,
  what: string,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = agents.filter((a) => !a.seen.installs.some((i) => i.serial === serial)).length;
    if (left === 0) return 0;
    if (Date.now() > deadline) {
      progress(`${what}: ${left} agents did not install serial ${serial} within ${timeoutMs / 1000} s`);
      return left;
    }
    await sleep(250);
  }
}

/** One forced renewal, timed from the manifest stored to each agent's install. */
async function renewOnce(
  fleet: FleetStack,
  lambdas: LambdaSide,
  capacity: CapacityRecorder,
  agents: readonly SimulatedAgent[],
  registry: number,
  eventPoll: number,
  id: number,
): Promise<Renewal> {
  for (const a of agents) a.clear();
  capacity.lines.clear();
  const pumpedBefore = lambdas.pumped.length;
  const renewed = await lambdas.ask({ op: 'renew', id }, 'renewed');
  if (renewed.failures) throw new Error('the issuer reported a failed renewal');
  const missing = await untilInstalled(
    agents,
    renewed.serial,
    180_000 + 3 * eventPoll * 1000 + registry * 30,
    `renewal ${id}`,
  );
  // The fan-out may outlast the agents (the last inboxes need not be theirs): wait for it.
  const fanoutDeadline = Date.now() + 600_000;
  while (!lambdas.pumped.slice(pumpedBefore).some((p) => p.endedAt >= renewed.storedAt)) {
    if (Date.now() > fanoutDeadline) throw new Error(`renewal ${id}: the deliver function never ran`);
    await sleep(250);
  }
  const pumped = lambdas.pumped.slice(pumpedBefore).filter((p) => p.endedAt >= renewed.storedAt);
  const samples = agents.flatMap((a) => sampleOf(a, renewed.serial, renewed.storedAt) ?? []);
  const calls: Record<string, number> = {};
  for (const p of pumped) for (const [k, n] of Object.entries(p.calls)) calls[k] = (calls[k] ?? 0) + n;
  const state = (await fleet.inventory.get(CERTIFICATE))?.state.current;
  return {
    registry,
    serial: renewed.serial,
    notAfter: state?.notAfter ?? '',
    issueMs: renewed.storedAt - renewed.invokedAt,
    samples,
    missing,
    fanout: {
      wallMs: pumped.reduce((sum, p) => sum + p.endedAt - p.startedAt, 0),
      cpuMs: pumped.reduce((sum, p) => sum + p.cpuMs, 0),
      handled: pumped.reduce((sum, p) => sum + p.handled, 0),
      calls,
    },
    capacity: new Map(capacity.lines),
  };
}

function sampleOf(agent: SimulatedAgent, serial: string, storedAt: number): DeliverySample | undefined {
  const { installs, reads, polls } = agent.seen;
  const install = installs.find((i) => i.serial === serial);
  const read = reads.find((r) => r.serial === serial);
  if (!install || !read) return undefined;
  const poll = polls.find((p) => p.generation !== undefined && p.generation >= read.generation) ?? {
    at: install.at,
  };
  return {
    real: agent.real,
    total: install.at - storedAt,
    inbox: read.updatedAt - storedAt,
    wait: Math.max(0, poll.at - read.updatedAt),
    work: install.at - Math.max(poll.at, read.updatedAt),
  };
}

/** Runs the fleet bundle twice in one host process: a cold start, then a warm invocation. */
async function tickRuns(
  bundle: string,
  capacity: { endpoint: string; lines: Map<string, CapacityLine> },
  registry: number,
): Promise<TickRun[]> {
  const host = fork(
    fileURLToPath(new URL('./lib/fleet-tick-host.mjs', import.meta.url)),
    [JSON.stringify({ bundle })],
    {
      env: { ...process.env, AWS_ENDPOINT_URL_DYNAMODB: capacity.endpoint, NODE_OPTIONS: '' },
      // Plain node, as Lambda runs the bundle (fork would pass on this process's tsx loader), with
      // the heap limits the Lambda Node.js runtime's bootstrap sets from the function's memory:
      // a tenth of it for the new space (half of that a semi-space), the rest for the old space.
      execArgv: [
        `--max-semi-space-size=${Math.floor(FLEET_MB / 20)}`,
        `--max-old-space-size=${FLEET_MB - Math.floor(FLEET_MB / 10)}`,
      ],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  const replies: Record<string, unknown>[] = [];
  let wake: (() => void) | undefined;
  host.on('message', (m: Record<string, unknown>) => {
    replies.push(m);
    wake?.();
  });
  const reply = async (op: string) => {
    for (;;) {
      const i = replies.findIndex((r) => r.op === op);
      if (i >= 0) return replies.splice(i, 1)[0]!;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  try {
    await reply('ready');
    const runs: TickRun[] = [];
    for (const run of ['cold', 'warm'] as const) {
      capacity.lines.clear();
      host.send({ op: 'run' });
      const r = (await reply('ran')) as unknown as Omit<TickRun, 'registry' | 'run' | 'capacity'>;
      runs.push({ ...r, registry, run, capacity: new Map(capacity.lines) });
    }
    return runs;
  } finally {
    host.kill();
  }
}

/** "Scan fleet report#", "TransactWriteItems fleet inbox#": the operation, which table, which items. */
function capacityLabel(operation: string, body: Json, tables: Record<string, string>): string {
  type Item = Record<string, { S?: string }>;
  const first = ((body['TransactItems'] as Json[] | undefined)?.[0] ?? {}) as Record<
    string,
    Json | undefined
  >;
  const request = (first['Put'] ??
    first['Update'] ??
    first['ConditionCheck'] ??
    first['Delete'] ??
    body) as Json;
  const table = tables[String(request['TableName'])] ?? String(request['TableName']);
  const values = request['ExpressionAttributeValues'] as Item | undefined;
  const pk = ((request['Key'] ?? request['Item']) as Item | undefined)?.['pk']?.S;
  const prefix = values?.[':prefix']?.S ?? (pk ? `${pk.split('#')[0]}#` : '');
  return `${operation} ${table} ${prefix}`.trim();
}

function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`;
  }
}

await main();
