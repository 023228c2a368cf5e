import { readFile } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { AgentInboxes } from '../shared/agents/inbox.js';
import type { AgentReport } from '../shared/fleet/report.js';
import { MINUTE, type Clock, systemClock } from '../shared/model/clock.js';
import { IntegrityError, ValidationError, asCertkeeperError } from '../shared/model/errors.js';
import type { Log } from '../shared/model/log.js';
import { S3CertificateStore, S3ObjectStore } from '../shared/store/s3-store.js';
import type { CertificateStore, ObjectStore } from '../shared/store/store.js';
import { agentS3Client, registryClients } from './aws.js';
import type { AgentConfig } from './config.js';
import { loadDeliveryKey, loadIdentity, renewalAt, renewIdentity } from './identity.js';
import { consoleLog } from './log.js';
import { writeAgentReport } from '../shared/fleet/reports-objects.js';
import { buildAgentReport, writeReportIfDue } from './report.js';
import { BucketSource, type CertificateSource, InboxSource } from './sources.js';
import { type AgentState, emptyState, readState, writeState } from './state.js';
import { statusOf, writePrometheusTextfile } from './status.js';
import { type CertificateReport, type SyncAction, checkCertificate } from './sync.js';
import { trustedRoots } from './verify.js';

export { AddressInUseError, startAgentHttp01 } from './http01.js';
export type { CertificateReport, SyncAction };

export interface SyncReport {
  certificates: CertificateReport[];
}

export interface AgentDeps {
  s3?: S3Client;
  /** Direct mode: where manifests and bundles are read; defaults to S3CertificateStore on `s3`. */
  store?: CertificateStore;
  /** Where the agent's report is written; default: its fleet table (registry) or the bucket (direct, with `name`). */
  reports?: ObjectStore | { put(report: AgentReport): Promise<void> };
  /** Registry mode: the agent's inbox and envelopes; default: built from the config and its identity. */
  registry?: {
    inboxes: AgentInboxes;
    objects: ObjectStore;
    reports?: { put(report: AgentReport): Promise<void> };
  };
  clock?: Clock;
  log?: Log;
  /** Certificates this run may install even if older than the installed one (`--allow-older`). */
  allowOlder?: readonly string[];
}

export interface Agent {
  readonly config: AgentConfig;
  /** Checks every certificate this agent receives once, in name order. */
  syncOnce(): Promise<SyncReport>;
  /** Checks one certificate. */
  syncCertificate(name: string): Promise<CertificateReport>;
  /**
   * Until `signal` aborts: a full check at once and every pollIntervalSeconds; a registry
   * agent also reads its inbox's generation every eventPollSeconds (and checks what changed
   * at once) and renews its identity before it expires. A check in progress finishes
   * first; install and rollback are never cut in half.
   */
  run(options: { signal: AbortSignal }): Promise<void>;
}

export function createAgent(config: AgentConfig, deps: AgentDeps = {}): Agent {
  return new CertkeeperAgent(config, deps);
}

/** After a failed identity renewal, the next try no sooner than this. */
const RENEWAL_RETRY_MS = 5 * MINUTE;

class CertkeeperAgent implements Agent {
  private readonly source: CertificateSource;
  private readonly inboxes: AgentInboxes | undefined;
  private readonly reports: { put(report: AgentReport): Promise<void> } | undefined;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly allowOlder: ReadonlySet<string>;
  private roots: Promise<string[]> | undefined;
  /** The certificates of the last round of checks, for a report between rounds. */
  private lastNames: string[] = [];
  /** Checks run one at a time: they share the state file and may reload the same service. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly config: AgentConfig,
    deps: AgentDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.log = deps.log ?? consoleLog();
    this.allowOlder = new Set(deps.allowOlder ?? []);
    for (const warning of config.warnings) this.log.warn(warning);
    if (config.identity) {
      const identity = config.identity;
      const name = requireName(config);
      const built = deps.registry ?? registryClients(config, this.clock);
      this.inboxes = built.inboxes;
      this.source = new InboxSource(name, built.inboxes, built.objects, () =>
        loadDeliveryKey(identity.directory),
      );
      this.reports = asReportSink(deps.reports) ?? built.reports;
    } else {
      const s3 = deps.s3 ?? (deps.store && deps.reports ? undefined : agentS3Client(config));
      const store = deps.store ?? new S3CertificateStore(s3!, { bucket: config.bucket, clock: this.clock });
      this.source = new BucketSource(store, Object.keys(config.certificates));
      this.reports = config.name
        ? (asReportSink(deps.reports) ??
          asReportSink(
            new S3ObjectStore(s3 ?? agentS3Client(config), { bucket: config.bucket, clock: this.clock }),
          ))
        : undefined;
    }
  }

  syncOnce(): Promise<SyncReport> {
    return this.exclusive(async () => {
      const names = await this.source.names();
      this.lastNames = names;
      const certificates: CertificateReport[] = [];
      for (const name of names) certificates.push(await this.check(name));
      await this.afterChecks(names);
      return { certificates };
    });
  }

  syncCertificate(name: string): Promise<CertificateReport> {
    return this.exclusive(async () => {
      const names = await this.source.names();
      const report = await this.check(name);
      await this.afterChecks(names);
      return report;
    });
  }

  async run({ signal }: { signal: AbortSignal }): Promise<void> {
    const pollMs = this.config.pollIntervalSeconds * 1000;
    const eventMs = this.config.eventPollSeconds * 1000;
    const reportMs = this.config.reportIntervalSeconds * 1000;
    let nextFull = 0;
    let nextRenewal = 0;
    let nextHeartbeat = Number.POSITIVE_INFINITY;
    let generation: number | undefined;
    const check = async (): Promise<void> => {
      await this.syncOnce().catch((err: unknown) => this.logFailure('check failed', err));
      nextHeartbeat = this.clock.now().getTime() + reportMs;
    };
    while (!signal.aborted) {
      const now = this.clock.now().getTime();
      if (this.config.identity && now >= nextRenewal) {
        nextRenewal = await this.renewIdentityIfDue(now);
      }
      if (now >= nextFull) {
        generation = await this.generation().catch(() => generation);
        await check();
        nextFull = this.clock.now().getTime() + pollMs;
        continue;
      }
      if (this.inboxes) {
        const seen = await this.generation().catch((err: unknown) => {
          this.logFailure('could not read the inbox; the periodic check goes on', err);
          return generation;
        });
        if (seen !== generation) {
          generation = seen;
          this.log.info('inbox changed', { generation: seen });
          await check();
        }
      }
      if (this.reports && this.clock.now().getTime() >= nextHeartbeat) {
        // A sign of life between checks: written when due, whether or not anything changed.
        await this.exclusive(() => this.afterChecks(this.lastNames));
        nextHeartbeat = this.clock.now().getTime() + reportMs;
      }
      const wake = Math.min(nextFull, nextHeartbeat) - this.clock.now().getTime();
      await sleep(Math.max(0, Math.min(this.inboxes ? eventMs : pollMs, wake)), signal);
    }
    this.log.info('agent stopped');
  }

  /**
   * Renews the identity when half its lifetime is gone. Returns when to look again: its
   * renewal time (the identity is not read from disk before), at once after a renewal (to
   * schedule the new one's), or in 5 minutes after a failure.
   */
  private async renewIdentityIfDue(now: number): Promise<number> {
    const identity = this.config.identity!;
    try {
      const current = await loadIdentity(identity.directory);
      const due = renewalAt(current.certificate);
      if (now < due) return due;
      const answer = await renewIdentity(
        {
          agent: requireName(this.config),
          dir: identity.directory,
          enrolUrl: identity.enrolUrl,
          endpointCaPem: identity.endpointCaFile
            ? await readFile(identity.endpointCaFile, 'utf8')
            : undefined,
        },
        this.clock,
      );
      this.log.info('identity renewed', { notAfter: answer.notAfter });
      return now;
    } catch (err) {
      this.logFailure("could not renew this agent's identity; it is tried again in 5 minutes", err);
      return now + RENEWAL_RETRY_MS;
    }
  }

  private async generation(): Promise<number | undefined> {
    return this.inboxes?.generation(requireName(this.config));
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** One certificate, recorded in the state file. */
  private async check(name: string): Promise<CertificateReport> {
    const state = await this.loadState();
    const ctx = {
      config: this.config,
      source: this.source,
      clock: this.clock,
      log: this.log,
      roots: () => this.trustedRoots(),
      allowOlder: this.allowOlder,
    };
    const { report, state: entry } = await checkCertificate(ctx, name, state.certificates[name]);
    state.certificates[name] = entry;
    await writeState(this.config.stateFile, state);
    return report;
  }

  /** After every round of checks: the Prometheus textfile, and the report when due. */
  private async afterChecks(names: readonly string[]): Promise<void> {
    const file = this.config.prometheusTextfile;
    if (file) {
      try {
        const state = await readState(this.config.stateFile);
        await writePrometheusTextfile(file, statusOf(state, this.clock.now(), names));
      } catch (err) {
        this.logFailure(`could not write ${file}`, err);
      }
    }
    if (!this.reports) return;
    try {
      const state = await readState(this.config.stateFile);
      const report = buildAgentReport(this.config, state, names, this.clock.now());
      const reported = await writeReportIfDue(
        this.reports,
        report,
        state.reported,
        this.config.reportIntervalSeconds,
      );
      if (reported !== state.reported) await writeState(this.config.stateFile, { ...state, reported });
    } catch (err) {
      this.logFailure('could not write the agent report (the fleet view will see this agent as silent)', err);
    }
  }

  private trustedRoots(): Promise<string[]> {
    const file = this.config.trustedCaFile;
    this.roots ??= (async () => {
      if (!file) return trustedRoots(undefined);
      const pem = await readFile(file, 'utf8').catch((err: unknown) => {
        throw new ValidationError(
          'trustedCaFile',
          `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
          'point it at a PEM file with the CA root certificate(s), or remove it to use the system roots',
        );
      });
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
        throw new ValidationError(
          'trustedCaFile',
          `${file} holds no PEM certificate`,
          'put the CA root in PEM form there',
        );
      }
      return trustedRoots(pem);
    })();
    // A failed read is not cached: the operator may fix the file while the agent runs.
    this.roots.catch(() => (this.roots = undefined));
    return this.roots;
  }

  private async loadState(): Promise<AgentState> {
    try {
      return await readState(this.config.stateFile);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      this.log.warn(`${err.describe()}; starting from an empty state`);
      return emptyState();
    }
  }

  private logFailure(message: string, err: unknown): void {
    this.log.error(message, { error: asCertkeeperError(err).describe() });
  }
}

function requireName(config: AgentConfig): string {
  if (!config.name) {
    throw new ValidationError(
      'name',
      'is missing, but the agent has an identity',
      'set "name" to the agent name it joined as',
    );
  }
  return config.name;
}

/** An ObjectStore takes reports at agents/<name>/report.json (direct mode); a report store as it is. */
function asReportSink(
  reports: AgentDeps['reports'] | undefined,
): { put(report: AgentReport): Promise<void> } | undefined {
  if (!reports) return undefined;
  if ('delete' in reports) {
    const objects = reports;
    return { put: (report) => writeAgentReport(objects, report) };
  }
  return reports;
}

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
