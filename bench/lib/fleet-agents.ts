/**
 * The servers of bench/fleet.ts, in this process. Each joins with a one-time token through
 * the identity function (`agent join`'s own code: a key and a delivery key made here, a CSR
 * sent), gets its own temporary credentials from the Roles Anywhere stand-in with its own
 * client certificate, and has its own DynamoDB and S3 clients with them (the sockets are
 * pooled across agents: on one machine, a connection per server would be a thread per server
 * in moto). Two kinds run:
 * - the real agent (agent/agent.ts, registry mode), minus nginx, its files in a directory of
 *   its own on tmpfs where there is one (a server has its own disk);
 * - a light one (LightAgent): the agent's loop and its pieces for the hot path (its inbox
 *   port, InboxSource, verifyBundle, buildAgentReport, writeReportIfDue), its state in
 *   memory and no files, the chain verified against the CA's root alone. A thousand real
 *   agents in one process measure this machine: each install parses the ~140 system roots
 *   (about 20 ms, nothing on a server once per renewal, 20 s of one core here per renewal).
 *
 * What the benchmark reads of each agent: its inbox polls and reads (a wrapper around its
 * inbox port), its installs (its log), and every AWS request its clients send, counted with
 * the request units DynamoDB bills for it (an SDK middleware).
 */
import type { Agent as HttpAgent } from 'node:http';
import { join } from 'node:path';
import { type AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createAgent } from '../../agent/agent.js';
import { agentCredentials } from '../../agent/aws.js';
import { type AgentConfig, loadAgentConfig } from '../../agent/config.js';
import { loadDeliveryKey } from '../../agent/identity.js';
import { joinRegistry } from '../../agent/join.js';
import { buildAgentReport, writeReportIfDue } from '../../agent/report.js';
import { sameSerial } from '../../agent/served.js';
import { InboxSource } from '../../agent/sources.js';
import type { AgentState } from '../../agent/state.js';
import { verifyBundle } from '../../agent/verify.js';
import type { AgentInboxes } from '../../shared/agents/inbox.js';
import { DynamoAgentInboxes } from '../../shared/agents/inbox-dynamodb.js';
import { newAgentRecord } from '../../shared/agents/records.js';
import type { AgentRegistry } from '../../shared/agents/registry.js';
import { DynamoAgentReports } from '../../shared/fleet/reports-dynamodb.js';
import type { AgentSelector } from '../../shared/model/agent.js';
import { systemClock } from '../../shared/model/clock.js';
import { IntegrityError, asCertkeeperError } from '../../shared/model/errors.js';
import type { Log } from '../../shared/model/log.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { issueToken } from '../../shared/usecases/manage-agents.js';

export interface Tally {
  requests: number;
  /** Request units DynamoDB bills (RRU for reads, WRU for writes); 0 for other services. */
  units: number;
}

/** AWS requests by "service operation key-prefix", with their request units. */
export class RequestCounter {
  private tallies = new Map<string, Tally>();

  add(kind: string, units = 0, requests = 1): void {
    const t = this.tallies.get(kind) ?? { requests: 0, units: 0 };
    t.requests += requests;
    t.units += units;
    this.tallies.set(kind, t);
  }

  /** What was counted since the last take (or the start), and a fresh count from here. */
  take(): Map<string, Tally> {
    const taken = this.tallies;
    this.tallies = new Map();
    return taken;
  }

  /** Counts every command the client sends (each attempt), after it is answered. */
  instrument(client: DynamoDBClient | S3Client, service: 'DynamoDB' | 'S3'): void {
    const stack = client.middlewareStack as unknown as {
      add(middleware: Middleware, options: { step: 'initialize'; name: string }): void;
    };
    stack.add(
      (next, context) => async (args) => {
        try {
          const result = await next(args);
          this.record(service, context.commandName, args.input, result.output);
          return result;
        } catch (err) {
          this.record(service, context.commandName, args.input, err as Output);
          throw err;
        }
      },
      { step: 'initialize', name: 'benchRequestCounter' },
    );
  }

  private record(service: string, command: string, input: Input, output: Output | undefined): void {
    const attempts = output?.$metadata?.attempts ?? 1;
    const operation = command.replace(/Command$/, '');
    if (service !== 'DynamoDB') {
      this.add(`${service} ${operation}`, 0, attempts);
      return;
    }
    const pk = (input.Key ?? input.Item)?.pk?.S;
    const kind = `${service} ${operation} ${pk ? `${pk.split('#')[0]}#` : ''}`.trim();
    // DynamoDB's rules (on-demand): a read of up to 4 KB is one unit, half when eventually
    // consistent (a missing item still costs the minimum); a write one unit per KB written.
    let units = 0;
    if (operation === 'GetItem') {
      const size = itemBytes(output?.Item);
      units = Math.max(1, Math.ceil(size / 4096)) * (input.ConsistentRead ? 1 : 0.5);
    } else if (operation === 'PutItem') units = Math.max(1, Math.ceil(itemBytes(input.Item) / 1024));
    this.add(kind, units * attempts, attempts);
  }
}

type Input = {
  Key?: Record<string, AttributeValue>;
  Item?: Record<string, AttributeValue>;
  ConsistentRead?: boolean;
};
type Output = { Item?: Record<string, AttributeValue>; $metadata?: { attempts?: number } };
type Middleware = (
  next: (args: { input: Input }) => Promise<{ output: Output }>,
  context: { commandName: string },
) => (args: { input: Input }) => Promise<{ output: Output }>;

/** An item's size as DynamoDB bills it: names plus values (numbers about one byte per two digits). */
export function itemBytes(item: Record<string, AttributeValue> | undefined): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item ?? {})) {
    bytes += Buffer.byteLength(name);
    if (value.S !== undefined) bytes += Buffer.byteLength(value.S);
    else if (value.N !== undefined) bytes += Math.ceil(value.N.replace(/^-/, '').length / 2) + 1;
    else if (value.B !== undefined) bytes += value.B.length;
    else bytes += 1;
  }
  return bytes;
}

/** What the benchmark saw one agent do (times are Date.now()). */
export interface Observed {
  /** Each read of its inbox's generation: when it was sent, what it answered. */
  polls: { at: number; generation: number | undefined }[];
  /** Each read of its whole inbox: the generation, when delivery wrote it, the serial it names. */
  reads: { generation: number; updatedAt: number; serial: string | undefined }[];
  /** Each certificate installed (from its log). */
  installs: { at: number; certificate: string; serial: string }[];
  errors: string[];
}

const newObserved = (): Observed => ({ polls: [], reads: [], installs: [], errors: [] });

export interface SimulatedAgent {
  name: string;
  /** The real agent (createAgent) or the light one. */
  real: boolean;
  config: AgentConfig;
  seen: Observed;
  /** Forgets what was observed so far (before a renewal, or an idle window). */
  clear(): void;
  stop(): Promise<void>;
}

export interface FleetContext {
  registry: AgentRegistry;
  /** The identity function's URL (serveIdentity), what the token sends the server to. */
  identityUrl: string;
  region: string;
  /** The stand-in's TLS CA (PEM, and the file holding it). */
  endpointCaPem: string;
  endpointCaFile: string;
  /** Pebble's root, the agent's trustedCaFile (PEM, and the file holding it). */
  rootPem: string;
  rootsFile: string;
  workDir: string;
  certificate: string;
  intervals: { eventPollSeconds: number; pollIntervalSeconds: number; reportIntervalSeconds: number };
  /** The requests of the light agents, and those of the real ones apart. */
  counter: RequestCounter;
  realCounter: RequestCounter;
  /** One socket pool for every agent's clients (see the file's comment). */
  httpAgent: HttpAgent;
}

/**
 * Adds the agent as `certkeeper agent add` records it, issues its one-time token
 * (issueToken), and joins as `certkeeper agent join <token>` does on the server. Returns the
 * agent config the join wrote, with the bench's intervals and paths.
 */
export async function enrolAgent(
  ctx: FleetContext,
  name: string,
  selector: AgentSelector,
): Promise<{ config: AgentConfig; joinMs: number }> {
  await ctx.registry.update(name, () => newAgentRecord(name, selector, 'cli', new Date()));
  const { token } = await issueToken(
    { registry: ctx.registry, clock: systemClock },
    { url: ctx.identityUrl, region: ctx.region },
    { name },
  );
  const dir = join(ctx.workDir, name);
  const file = join(dir, 'agent.json');
  const started = Date.now();
  await joinRegistry({
    token,
    config: file,
    identityDir: join(dir, 'identity'),
    endpointCaFile: ctx.endpointCaFile,
  });
  const joinMs = Date.now() - started;
  const config = loadAgentConfig(file, {
    ...ctx.intervals,
    stateFile: join(dir, 'state.json'),
    certificatesDirectory: join(dir, 'etc'),
    trustedCaFile: ctx.rootsFile,
  });
  return { config, joinMs };
}

/**
 * The agent's clients as agent/aws.ts registryClients makes them (credentials through Roles
 * Anywhere with its identity on disk, re-read at every session), counted, on the shared pool.
 */
function agentClients(ctx: FleetContext, config: AgentConfig, counter: RequestCounter) {
  const identity = config.identity!;
  const credentials = agentCredentials(identity, systemClock, ctx.endpointCaPem, () =>
    counter.add('Roles Anywhere CreateSession'),
  );
  const handler = () =>
    new NodeHttpHandler({ httpAgent: ctx.httpAgent, connectionTimeout: 5_000, requestTimeout: 30_000 });
  const s3 = new S3Client({
    region: identity.region,
    credentials,
    forcePathStyle: true,
    requestHandler: handler(),
  });
  const dynamodb = new DynamoDBClient({ region: identity.region, credentials, requestHandler: handler() });
  counter.instrument(s3, 'S3');
  counter.instrument(dynamodb, 'DynamoDB');
  const fleetTable = { client: dynamodb, tableName: identity.fleetTable, clock: systemClock };
  return {
    credentials,
    inboxes: new DynamoAgentInboxes(fleetTable),
    objects: new S3ObjectStore(s3, { bucket: config.bucket, clock: systemClock }),
    reports: new DynamoAgentReports(fleetTable),
  };
}

/** The inbox port as the agent uses it, with what it read noted down. */
function observedInboxes(inner: AgentInboxes, seen: () => Observed, certificate: string): AgentInboxes {
  return {
    generation: async (agent) => {
      const at = Date.now();
      const generation = await inner.generation(agent);
      seen().polls.push({ at, generation });
      return generation;
    },
    get: async (agent) => {
      const inbox = await inner.get(agent);
      if (inbox) {
        seen().reads.push({
          generation: inbox.generation,
          updatedAt: Date.parse(inbox.updatedAt),
          serial: inbox.entries[certificate]?.serial,
        });
      }
      return inbox;
    },
    update: (agent, change) => inner.update(agent, change),
    remove: (agent) => inner.remove(agent),
    list: () => inner.list(),
  };
}

function observingLog(seen: () => Observed, name: string): Log {
  const installed = /^certificate (\S+): installed serial ([0-9A-Fa-f]+)/;
  return {
    debug: () => undefined,
    info: (message) => {
      const m = installed.exec(message);
      if (m) seen().installs.push({ at: Date.now(), certificate: m[1]!, serial: m[2]! });
    },
    warn: () => undefined,
    error: (message, extra) => seen().errors.push(`${name}: ${message} ${JSON.stringify(extra ?? {})}`),
  };
}

/**
 * Runs an agent (its own loop: a full check at once and every pollIntervalSeconds, its
 * inbox's generation every eventPollSeconds), after a random part of eventPollSeconds, as
 * servers started at any time would be: their polls are spread, not in step.
 */
export async function startAgent(
  ctx: FleetContext,
  config: AgentConfig,
  real: boolean,
): Promise<SimulatedAgent> {
  let seen = newObserved();
  const clients = agentClients(ctx, config, real ? ctx.realCounter : ctx.counter);
  // Credentials first, as the agent's first request would fetch them: a refusal shows here.
  await clients.credentials();
  const key = real ? undefined : await loadDeliveryKey(config.identity!.directory);
  const deliveryKey = async () => key!;
  const inboxes = observedInboxes(clients.inboxes, () => seen, ctx.certificate);
  const log = observingLog(() => seen, config.name!);
  const run: (signal: AbortSignal) => Promise<void> = real
    ? (signal) =>
        createAgent(config, {
          registry: { inboxes, objects: clients.objects, reports: clients.reports },
          log,
        }).run({ signal })
    : (signal) =>
        new LightAgent(config, {
          source: new InboxSource(config.name!, inboxes, clients.objects, deliveryKey),
          inboxes,
          reports: clients.reports,
          roots: [ctx.rootPem],
          installed: (certificate, serial) => seen.installs.push({ at: Date.now(), certificate, serial }),
          log,
        }).run(signal);
  const controller = new AbortController();
  const delay = Math.random() * ctx.intervals.eventPollSeconds * 1000;
  const running = new Promise<void>((resolve) => setTimeout(resolve, delay)).then(() =>
    controller.signal.aborted ? undefined : run(controller.signal),
  );
  return {
    name: config.name!,
    real,
    config,
    get seen() {
      return seen;
    },
    clear: () => {
      const errors = seen.errors;
      seen = newObserved();
      seen.errors = errors;
    },
    stop: async () => {
      controller.abort();
      await running;
    },
  };
}

/**
 * The agent's loop (agent/agent.ts run) and check (agent/sync.ts) for a registry agent, on
 * the agent's own pieces, without files: the inbox read when its generation moves and at
 * every full check; a new serial fetched, opened, verified and taken as installed; the
 * report written when it changes and every reportIntervalSeconds. Identity renewal, the
 * fallback and the served check are left out (none happens in a run).
 */
class LightAgent {
  private readonly state: AgentState = { version: 1, certificates: {} };

  constructor(
    private readonly config: AgentConfig,
    private readonly deps: {
      source: InboxSource;
      inboxes: AgentInboxes;
      reports: { put(report: Parameters<typeof writeReportIfDue>[1]): Promise<void> };
      roots: string[];
      installed(certificate: string, serial: string): void;
      log: Log;
    },
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const pollMs = this.config.pollIntervalSeconds * 1000;
    const eventMs = this.config.eventPollSeconds * 1000;
    const name = this.config.name!;
    let nextFull = 0;
    let generation: number | undefined;
    while (!signal.aborted) {
      if (Date.now() >= nextFull) {
        generation = await this.deps.inboxes.generation(name).catch(() => generation);
        await this.check().catch((err: unknown) => this.failed('check failed', err));
        nextFull = Date.now() + pollMs;
        continue;
      }
      const now = await this.deps.inboxes.generation(name).catch((err: unknown) => {
        this.failed('could not read the inbox', err);
        return generation;
      });
      if (now !== generation) {
        generation = now;
        await this.check().catch((err: unknown) => this.failed('check failed', err));
      }
      await sleep(Math.min(eventMs, Math.max(0, nextFull - Date.now())), signal);
    }
  }

  private async check(): Promise<void> {
    const names = await this.deps.source.names();
    for (const name of names) {
      const entry = (this.state.certificates[name] ??= {});
      const now = new Date();
      entry.lastCheck = now.toISOString();
      try {
        const offer = await this.deps.source.offer(name);
        if (entry.serial !== undefined && sameSerial(entry.serial, offer.serial)) {
          entry.lastAction = 'unchanged';
          continue;
        }
        const files = await this.deps.source.files(name, offer);
        const leaf = verifyBundle({ name, serial: offer.serial }, files, {
          identifiers: offer.identifiers ?? offer.claimed,
          roots: this.deps.roots,
          now,
        });
        Object.assign(entry, {
          serial: offer.serial,
          notBefore: leaf.notBefore.toISOString(),
          notAfter: leaf.notAfter.toISOString(),
          installedAt: now.toISOString(),
          lastAction: 'installed',
          lastError: undefined,
        });
        this.deps.installed(name, offer.serial);
      } catch (err) {
        entry.lastAction = err instanceof IntegrityError ? 'refused' : 'error';
        entry.lastError = asCertkeeperError(err).describe();
        this.failed(`certificate ${name}: ${entry.lastAction}`, err);
      }
    }
    const report = buildAgentReport(this.config, this.state, names, new Date());
    this.state.reported = await writeReportIfDue(
      this.deps.reports,
      report,
      this.state.reported,
      this.config.reportIntervalSeconds,
    );
  }

  private failed(message: string, err: unknown): void {
    this.deps.log.error(message, { error: asCertkeeperError(err).describe() });
  }
}

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
  });
}
