/**
 * bench/fleet.ts's tables: delivery time, a renewal's requests, the idle cost of an agent
 * and what an operator trades for faster delivery, the fleet tick. Figures only; the
 * measuring is in bench/fleet.ts and the modules it names.
 */
import { AGENT_SESSION_SECONDS } from '../../agent/aws.js';
import type { CapacityLine } from './dynamo-capacity.js';
import type { Tally } from './fleet-agents.js';
import {
  type DeliverySample,
  SECONDS_PER_MONTH,
  mib,
  modelDelivery,
  percentile,
  pricePerRequest,
  secs,
  table,
  usd,
} from './fleet-figures.js';
import { LAMBDA_MB_PER_VCPU, PRICE } from './prices.js';

/** The fleet and deliver functions' memory in the stack (infra/issuer/monitoring.ts, agents.ts). */
export const FLEET_MB = 256;
export const DELIVER_MB = 512;
/** The scheduler's default tick (scheduleMinutes 15): the fleet tick runs on it. */
const TICKS_PER_MONTH = SECONDS_PER_MONTH / (15 * 60);
/** How long before expiry the AWS SDK asks for credentials again (@smithy/core EXPIRATION_MS). */
const SDK_REFRESH_SECONDS = 300;
/** The eventPollSeconds the trade-off table shows, besides the measured one. */
const TRADE_OFF_POLLS = [5, 10, 20, 60];

export interface Options {
  agents: number;
  eventPoll: number;
  pollInterval: number;
  reportInterval: number;
  renewals: number;
  idleSeconds: number;
  tickAgents: number[];
  enrolConcurrency: number;
  /** How many of the agents are the real agent (createAgent); the others are light. */
  realAgents: number;
}

export interface Renewal {
  registry: number;
  serial: string;
  notAfter: string;
  issueMs: number;
  samples: DeliverySample[];
  missing: number;
  /** The deliver function's runs during this renewal (the fan-out), with the requests they sent. */
  fanout: { wallMs: number; cpuMs: number; handled: number; calls: Record<string, number> };
  /** DynamoDB units the stack's functions (issuer and deliver) used during the renewal, by request. */
  capacity: Map<string, CapacityLine>;
}

export interface TickRun {
  registry: number;
  run: 'cold' | 'warm';
  wallMs: number;
  cpuMs: number;
  maxRssKb: number;
  /** The heap's peak during the tick (sampled every 10 ms). */
  heapPeakMb: number;
  calls: Record<string, number>;
  capacity: Map<string, CapacityLine>;
  summary?: { targets: number; ok: number; behind: number; silent: number };
  published?: number;
  redelivered?: number;
  error?: string;
}

/** Wall time with the CPU part stretched to the vCPU share `memoryMb` buys on Lambda. */
const onLambda = (wallMs: number, cpuMs: number, memoryMb: number) =>
  wallMs - cpuMs + cpuMs * Math.max(1, LAMBDA_MB_PER_VCPU / memoryMb);

/** The invocations that served agents: all but the one that split the delivery, if it was split. */
const shardsOf = (r: Renewal): number => Math.max(1, r.fanout.handled - 1);

export function printDelivery(
  renewals: Renewal[],
  topUps: Renewal[],
  o: Options,
  /** What the agents sent during the renewals. */
  busy: Map<string, Tally>,
  /** The agents' process's CPU over the renewals, and the machine's load then. */
  load: { cpuMs: number; wallMs: number; loadavg: number },
): void {
  console.log(
    `\ndelivery: from the manifest stored to each agent's install of the new serial (inbox polled, envelope fetched, opened with its key, chain verified, files written)`,
  );
  const byRegistry = new Map<number, Renewal[]>();
  for (const r of [...renewals, ...topUps])
    byRegistry.set(r.registry, [...(byRegistry.get(r.registry) ?? []), r]);
  const rows = [...byRegistry].map(([size, rs]) => {
    const all = rs.flatMap((r) => r.samples.map((s) => s.total));
    const median = (f: (r: Renewal) => number) => percentile(rs.map(f), 50);
    return [
      String(size),
      String(o.agents),
      String(rs.length),
      secs(percentile(all, 50)),
      secs(percentile(all, 95)),
      secs(Math.max(...all)),
      `${secs(median((r) => r.fanout.wallMs))} (${secs(median((r) => r.fanout.cpuMs))} CPU)`,
      String(median((r) => r.fanout.handled)),
      secs(median((r) => onLambda(r.fanout.wallMs, r.fanout.cpuMs, DELIVER_MB) / shardsOf(r))),
      secs(median((r) => r.issueMs)),
      String(rs.reduce((n, r) => n + r.missing, 0)),
    ];
  });
  console.log(
    table(
      [
        'registry',
        'live agents',
        'renewals',
        'median',
        'p95',
        'max',
        'deliver fan-out',
        'invocations',
        `each at ${DELIVER_MB} MB`,
        'issue',
        'missed',
      ],
      rows,
    ),
  );
  const samples = renewals.flatMap((r) => r.samples);
  if (samples.length === 0) return;
  const part = (f: (s: DeliverySample) => number) =>
    `${secs(percentile(samples.map(f), 50))} / ${secs(percentile(samples.map(f), 95))}`;
  console.log(
    `  per agent at ${o.agents} (median / p95): its inbox written ${part((s) => s.inbox)} after the manifest; the wait for its next poll ${part((s) => s.wait)}; poll to installed ${part((s) => s.work)}`,
  );
  const real = samples.filter((s) => s.real);
  if (real.length) {
    const of = (xs: DeliverySample[]) =>
      `${secs(
        percentile(
          xs.map((s) => s.total),
          50,
        ),
      )} / ${secs(
        percentile(
          xs.map((s) => s.total),
          95,
        ),
      )}`;
    console.log(
      `  the ${o.realAgents} real agents among them (agent/agent.ts with its files): median / p95 ${of(real)}; the light ones ${of(samples.filter((s) => !s.real))}`,
    );
  }
  const p95 = percentile(
    samples.map((s) => s.total),
    95,
  );
  const verdict =
    o.agents >= 1000 ? (p95 <= 60_000 ? 'met' : 'NOT met') : `not measured here (${o.agents} agents)`;
  console.log(
    `  target: p95 <= 60 s at 1,000 agents: ${verdict}; p95 ${secs(p95)} over ${samples.length} installs`,
  );
  console.log(
    `  "issue": the forced renewal's ACME order to the manifest stored; "invocations": the deliver function's, one message each (above 1,000 receiving agents, one that splits the delivery and one per shard); "each at ${DELIVER_MB} MB": a shard's share of the fan-out with its CPU stretched to the ${(DELIVER_MB / LAMBDA_MB_PER_VCPU).toFixed(2)} vCPU the deliver function's memory buys (an estimate)`,
  );
  console.log(
    `  the agents' process used ${secs(load.cpuMs)} of CPU over the renewals' ${secs(load.wallMs)} (${((100 * load.cpuMs) / load.wallMs).toFixed(0)}% of a core; load average ${load.loadavg.toFixed(2)} at the end): the agents, moto, DynamoDB Local and the deliver function share this machine's cores, where a fleet has a server each and AWS's services`,
  );
  console.log(
    `  DynamoDB's eventually consistent poll may miss a write made under a second before it (not modelled)`,
  );
  printRenewalCost(renewals, o, busy);
}

/** What one renewal costs per receiving agent: the deliver function's requests and the agent's. */
function printRenewalCost(renewals: Renewal[], o: Options, busy: Map<string, Tally>): void {
  const n = renewals.length * o.agents;
  if (n === 0) return;
  const calls = new Map<string, number>();
  for (const r of renewals) {
    for (const [k, c] of Object.entries(r.fanout.calls)) {
      // agents/<agent>/deliveries/<certificate>/<serial>.json: one kind, whatever the serial.
      const kind = k.replace(/ [0-9A-Fa-f]{6,}\.json$/, ' envelope');
      calls.set(kind, (calls.get(kind) ?? 0) + c);
    }
  }
  // The deliver function's DynamoDB units: its reads and writes of inboxes and its registry scan.
  let rru = 0;
  let wru = 0;
  for (const r of renewals) {
    for (const [label, line] of r.capacity) {
      if (!/ fleet | deployment agent#/.test(`${label} `)) continue;
      rru += line.rru;
      wru += line.tableWru + line.indexWru;
    }
  }
  const s3Puts = [...calls].filter(([k]) => /^s3 PUT/.test(k)).reduce((sum, [, c]) => sum + c, 0);
  const s3Gets = [...calls].filter(([k]) => /^s3 GET/.test(k)).reduce((sum, [, c]) => sum + c, 0);
  const deliver =
    (rru * PRICE.dynamoRru + wru * PRICE.dynamoWru + s3Puts * PRICE.s3Put + s3Gets * PRICE.s3Get) / n;
  // What it sends per agent, and what once per renewal (the registry scan, the bundle's files).
  const sorted = [...calls].sort(([a], [b]) => a.localeCompare(b));
  const perAgent = sorted.filter(([, c]) => c / n >= 0.5).map(([k, c]) => `${k} ${(c / n).toFixed(2)}`);
  const perRenewal = sorted
    .filter(([, c]) => c / n < 0.5)
    .map(([k, c]) => `${k} ${(c / renewals.length).toFixed(1)}`);
  console.log(
    `  a renewal, per receiving agent: the deliver function sends ${perAgent.join(', ')} (and per renewal ${perRenewal.join(', ')}); ${(rru / n).toFixed(2)} RRU, ${(wru / n).toFixed(2)} WRU: ${usd(deliver)}`,
  );
  // The agent, by its rule: the inbox read consistently, the envelope fetched, and two reports
  // (its install, then its next full check's "unchanged": the report's digest holds lastAction).
  const each = (kind: string, fallback: number) => {
    const t = busy.get(kind);
    return t?.requests ? t.units / t.requests : fallback;
  };
  const inboxRru = each('DynamoDB GetItem inbox#', 1);
  const reportWru = each('DynamoDB PutItem report#', 1);
  const agent = inboxRru * PRICE.dynamoRru + PRICE.s3Get + 2 * reportWru * PRICE.dynamoWru;
  console.log(
    `  and the agent: 1 inbox read (${inboxRru.toFixed(2)} RRU), 1 S3 GET, 2 reports (${reportWru.toFixed(2)} WRU each): ${usd(agent)}; a renewal to 1,000 agents ${usd((deliver + agent) * 1000)}, to 10,000 ${usd((deliver + agent) * 10_000)}`,
  );
}

export function printIdle(
  /** What the light agents sent over the idle window. */
  idle: Map<string, Tally>,
  /** What the real agents sent over it: the check that the light ones poll as the agent does. */
  realIdle: Map<string, Tally>,
  /** What the agents sent during the renewals: the units of what the idle window did not show. */
  busy: Map<string, Tally>,
  o: Options,
  /** The renewals at the simulated fleet's size, for the trade-off's expected delivery. */
  samples: DeliverySample[],
): void {
  const real = Math.min(o.realAgents, o.agents);
  const windowSeconds = (o.agents - real) * o.idleSeconds;
  // The SDK asks its credential provider again 5 minutes before expiry, and the provider then
  // refreshes (it wants 10 minutes left): a session every 10 of its 15 minutes.
  const sessionSeconds = AGENT_SESSION_SECONDS - SDK_REFRESH_SECONDS;
  // What the agent's loop does per second: a poll every eventPollSeconds (and one more with
  // each full check), a consistent inbox read per full check, a report per reportIntervalSeconds
  // (and on every change), a new Roles Anywhere session before the last one has 10 min left.
  const expected: Record<string, { perSecond: number; period: number; units: number }> = {
    'DynamoDB GetItem poll#': {
      perSecond: 1 / o.eventPoll + 1 / o.pollInterval,
      period: o.eventPoll,
      units: 0.5,
    },
    'DynamoDB GetItem inbox#': { perSecond: 1 / o.pollInterval, period: o.pollInterval, units: 1 },
    'DynamoDB PutItem report#': { perSecond: 1 / o.reportInterval, period: o.reportInterval, units: 1 },
    'Roles Anywhere CreateSession': { perSecond: 1 / sessionSeconds, period: sessionSeconds, units: 0 },
  };
  const kinds = [...new Set([...idle.keys(), ...realIdle.keys(), ...Object.keys(expected)])].sort();
  const realRate = (kind: string) => (realIdle.get(kind)?.requests ?? 0) / (real * o.idleSeconds);
  let total = 0;
  let pollCost = 0;
  const rows = kinds.map((kind) => {
    const seen = idle.get(kind) ?? { requests: 0, units: 0 };
    const known = expected[kind];
    const seenRate = seen.requests / windowSeconds;
    // A window of whole periods holds each agent's periodic request exactly as often as it
    // recurs, whatever its phase; a shorter one (a report every 15 min, and every agent just
    // reported after the renewals) cannot show it: priced at the agent's interval instead.
    const useSeen = !known || kind.endsWith('poll#') || o.idleSeconds % Math.round(known.period) === 0;
    const rate = useSeen ? seenRate : known.perSecond;
    const source = seen.requests ? seen : busy.get(kind);
    const units = source?.requests ? source.units / source.requests : (known?.units ?? 0);
    const each = pricePerRequest(kind, { requests: 1, units });
    const monthly = rate * SECONDS_PER_MONTH * each;
    total += monthly;
    if (kind.endsWith('poll#')) pollCost = monthly;
    return [
      kind,
      (seenRate * 3600).toFixed(1),
      real ? (realRate(kind) * 3600).toFixed(1) : '-',
      known ? (known.perSecond * 3600).toFixed(1) : '-',
      useSeen ? 'seen' : 'interval',
      kind.startsWith('DynamoDB') ? `${units.toFixed(2)} ${kind.includes('Put') ? 'WRU' : 'RRU'}` : '-',
      usd(monthly),
    ];
  });
  console.log(
    `\nidle cost per agent-month: the requests ${o.agents - real} light agents made over ${o.idleSeconds} s without a renewal (the ${real} real agents' beside them), priced (us-east-1 on-demand, bench/lib/prices.ts)`,
  );
  console.log(
    table(
      [
        'request',
        'per agent-hour seen',
        `${real} real agents`,
        'by the intervals',
        'priced',
        'units each',
        '$/agent-month',
      ],
      rows,
    ),
  );
  console.log(
    `  "priced": seen in the window, or by the agent's interval where the window cannot show it; the window follows the renewals, so each agent's first full check after one reports again (lastAction installed, then unchanged); at rest a report every reportIntervalSeconds`,
  );
  console.log(
    `  total ${usd(total)} per agent-month, ${usd(total * 10_000)} a month at 10,000 agents; target <= $0.02: ${total <= 0.02 ? 'met' : 'NOT met'}`,
  );
  console.log(
    `  prices: $${PRICE.dynamoRru * 1e6}/M RRU (an eventually consistent read <= 4 KB is 0.5 RRU, a consistent one 1), $${PRICE.dynamoWru * 1e6}/M WRU (1 per KB written), S3 GET $${PRICE.s3Get * 1000}/1,000; Roles Anywhere CreateSession and STS: no charge`,
  );
  printTradeOff(idle, o, windowSeconds, total, pollCost, samples);
}

/** The operator's option: eventPollSeconds. The polls scale with it, the rest does not. */
function printTradeOff(
  idle: Map<string, Tally>,
  o: Options,
  windowSeconds: number,
  total: number,
  pollCost: number,
  samples: DeliverySample[],
): void {
  const polls = (idle.get('DynamoDB GetItem poll#')?.requests ?? 0) / windowSeconds;
  const withChecks = 1 / o.pollInterval; // the full check reads the generation too
  const rows = [...new Set([...TRADE_OFF_POLLS, o.eventPoll])]
    .sort((a, b) => a - b)
    .map((e) => {
      const rate = Math.max(0, polls - withChecks) * (o.eventPoll / e) + withChecks;
      const monthly = total - pollCost + (polls ? (pollCost * rate) / polls : 0);
      const expected = samples.length ? modelDelivery(samples, e) : undefined;
      return [
        `${e}${e === 20 ? ' (default)' : ''}${e === o.eventPoll ? ' measured' : ''}`,
        (rate * SECONDS_PER_MONTH).toFixed(0),
        usd(monthly),
        usd(monthly * 10_000),
        expected ? secs(expected.median) : '-',
        expected ? secs(expected.p95) : '-',
      ];
    });
  console.log(`\n  cost against delivery time: eventPollSeconds (agent config), at ${o.agents} agents`);
  console.log(
    table(
      [
        'eventPollSeconds',
        'polls/agent-month',
        '$/agent-month',
        '$/month, 10,000',
        'expected median',
        'expected p95',
      ],
      rows,
      '    ',
    ),
  );
  console.log(
    `    expected delivery: each measured install keeps its own inbox time and work, and its wait for the next poll is drawn anew, uniform over the interval; at the measured interval it is the model's check against the table above`,
  );
}

export function printTicks(ticks: TickRun[]): void {
  if (!ticks.length) return;
  console.log(
    `\nfleet tick: functions/fleet.ts as its Lambda bundle in a plain node process with the heap limits of a ${FLEET_MB} MB function (cold start, then warm), every agent reporting to the fleet table`,
  );
  const rows = ticks.map((t) => {
    const rru = [...t.capacity.values()].reduce((sum, l) => sum + l.rru, 0);
    const requests = Object.entries(t.calls)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    const result = t.error
      ? `error: ${t.error}`
      : `${t.summary?.targets ?? '-'} targets, ${t.summary?.ok ?? '-'} ok, ${t.published ?? 0} events, ${t.redelivered ?? 0} redelivered`;
    return [
      String(t.registry),
      t.run,
      secs(t.wallMs),
      secs(t.cpuMs),
      secs(onLambda(t.wallMs, t.cpuMs, FLEET_MB)),
      mib(t.maxRssKb),
      `${t.heapPeakMb.toFixed(0)} MiB`,
      rru.toFixed(0),
      result,
      requests,
    ];
  });
  console.log(
    table(
      [
        'registry',
        'run',
        'wall',
        'CPU',
        `at ${FLEET_MB} MB`,
        'peak RSS',
        'peak heap',
        'RRU',
        'result',
        'requests (service operation count)',
      ],
      rows,
    ),
  );
  for (const t of ticks.filter((r) => r.run === 'warm')) {
    const reads = [...t.capacity]
      .map(([label, l]) => `${label} ${l.calls}x ${l.rru.toFixed(0)} RRU`)
      .join('; ');
    const rru = [...t.capacity.values()].reduce((sum, l) => sum + l.rru, 0);
    const s3 = Object.entries(t.calls).filter(([k]) => k.startsWith('s3 '));
    const s3Cost = s3.reduce(
      (sum, [k, n]) => sum + n * (/^s3 (GET|HEAD)/.test(k) ? PRICE.s3Get : PRICE.s3Put),
      0,
    );
    const perTick = rru * PRICE.dynamoRru + s3Cost;
    console.log(
      `  warm tick at ${t.registry}: ${reads}; ${usd(perTick)} a tick, every 15 minutes ${usd(perTick * TICKS_PER_MONTH)} a month (${usd((perTick * TICKS_PER_MONTH) / t.registry)} per agent-month)`,
    );
  }
  const biggest = ticks.at(-1)!;
  const worst = Math.max(
    ...ticks.filter((t) => t.registry === biggest.registry).map((t) => onLambda(t.wallMs, t.cpuMs, FLEET_MB)),
  );
  const verdict =
    biggest.registry >= 10_000
      ? worst <= 60_000
        ? 'met'
        : 'NOT met'
      : `not measured (largest ${biggest.registry})`;
  console.log(
    `  target: the tick at 10,000 agents within one 60 s invocation: ${verdict} (slower run ${secs(worst)} at ${FLEET_MB} MB, peak RSS ${mib(biggest.maxRssKb)} of ${FLEET_MB} MB; the function's timeout is 2 min)`,
  );
  console.log(
    `  "at ${FLEET_MB} MB": wall time with the CPU part stretched to the ${(FLEET_MB / LAMBDA_MB_PER_VCPU).toFixed(2)} vCPU ${FLEET_MB} MB buys (an estimate: waits on AWS taken as measured on the peers)`,
  );
}
