import { readFile } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { callAws } from '../shared/aws/errors.js';
import { type Clock, DAY, systemClock } from '../shared/model/clock.js';
import {
  CertkeeperError,
  IntegrityError,
  NotFoundError,
  ValidationError,
  asCertkeeperError,
} from '../shared/model/errors.js';
import type { Log } from '../shared/model/log.js';
import {
  type ParsedCertificate,
  keyMatchesCertificate,
  parseCertificate,
  pemBlocks,
} from '../shared/pki/index.js';
import { BUNDLE_FILES, type BundleFile, manifestKey } from '../shared/store/layout.js';
import { readServedCertificate } from '../shared/fleet/probe.js';
import { S3CertificateStore, S3ObjectStore } from '../shared/store/s3-store.js';
import type { CertificateStore, Manifest, ObjectStore } from '../shared/store/store.js';
import { agentS3Client, agentSqsClient } from './aws.js';
import { type AgentConfig, type CertificateTarget, KEY_MODE } from './config.js';
import { selfSignedCertificate } from './fallback.js';
import {
  type FileSpec,
  type Installed,
  PREVIOUS_SUFFIX,
  installFiles,
  readIfExists,
  resolveId,
  restoreFiles,
} from './files.js';
import { consoleLog } from './log.js';
import { parseQueueMessage } from './messages.js';
import { runCommands } from './reload.js';
import { buildAgentReport, writeAgentReport } from './report.js';
import { sameSerial, waitUntilServed } from './served.js';
import { type AgentState, type CertificateState, emptyState, readState, writeState } from './state.js';
import { statusOf, writePrometheusTextfile } from './status.js';
import { trustedRoots, verifyBundle } from './verify.js';

export { AddressInUseError, startAgentHttp01 } from './http01.js';

export type SyncAction = 'installed' | 'unchanged' | 'refused' | 'rolled-back' | 'fallback' | 'error';

export interface CertificateReport {
  name: string;
  /**
   * installed: a new serial verified, was installed and reloaded (and served, with verify).
   * unchanged: the installed serial is current. refused: the bundle or manifest failed
   * verification; nothing was touched. rolled-back: installed, but the reload or the served
   * check failed, so the previous files are back. fallback: a self-signed certificate was
   * written this check. error: anything else (bucket unreachable, not issued yet, ...).
   */
  action: SyncAction;
  serial?: string;
  /** Message and fix, for people; never key material. */
  error?: string;
}

export interface SyncReport {
  certificates: CertificateReport[];
}

export interface AgentDeps {
  s3?: S3Client;
  sqs?: SQSClient;
  /** Where manifests and bundles are read; defaults to S3CertificateStore on `s3`. */
  store?: CertificateStore;
  /** Where the agent's report is written (with `name`); defaults to the bucket on `s3`. */
  reports?: ObjectStore;
  clock?: Clock;
  log?: Log;
}

export interface Agent {
  readonly config: AgentConfig;
  /** Checks every configured certificate once, in config order. */
  syncOnce(): Promise<SyncReport>;
  /** Checks one configured certificate. */
  syncCertificate(name: string): Promise<CertificateReport>;
  /**
   * Until `signal` aborts: a full check at once and every pollIntervalSeconds, and, with a
   * queueUrl, a check of each certificate an event names as soon as it arrives. A check in
   * progress finishes first; install and rollback are never cut in half.
   */
  run(options: { signal: AbortSignal }): Promise<void>;
}

export function createAgent(config: AgentConfig, deps: AgentDeps = {}): Agent {
  return new CertkeeperAgent(config, deps);
}

/** Installed, but the reload or the served check failed and the previous files are back. */
class RolledBackError extends CertkeeperError {
  constructor(cause: CertkeeperError) {
    super(cause.code, `rolled back to the previous files: ${cause.message}`, {
      retryable: true,
      fix: cause.fix,
      cause,
    });
  }
}

/** SQS answers at most 10 messages per receive, and waits at most 20 s. */
const RECEIVE_MAX = 10;
const LONG_POLL_SECONDS = 20;

class CertkeeperAgent implements Agent {
  private readonly store: CertificateStore;
  private readonly reports: ObjectStore | undefined;
  private readonly clock: Clock;
  private readonly log: Log;
  private sqsClient: SQSClient | undefined;
  private roots: Promise<string[]> | undefined;
  /** Checks run one at a time: they share the state file and may reload the same service. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly config: AgentConfig,
    deps: AgentDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.log = deps.log ?? consoleLog();
    this.sqsClient = deps.sqs;
    const s3 = deps.s3 ?? (deps.store && deps.reports ? undefined : agentS3Client(config));
    this.store = deps.store ?? new S3CertificateStore(s3!, { bucket: config.bucket, clock: this.clock });
    this.reports = config.name
      ? (deps.reports ??
        new S3ObjectStore(s3 ?? agentS3Client(config), { bucket: config.bucket, clock: this.clock }))
      : undefined;
  }

  syncOnce(): Promise<SyncReport> {
    return this.exclusive(async () => {
      const certificates: CertificateReport[] = [];
      for (const name of Object.keys(this.config.certificates)) certificates.push(await this.check(name));
      return { certificates };
    });
  }

  syncCertificate(name: string): Promise<CertificateReport> {
    return this.exclusive(() => this.check(name));
  }

  async run({ signal }: { signal: AbortSignal }): Promise<void> {
    const pollMs = this.config.pollIntervalSeconds * 1000;
    let nextFull = 0;
    let queueFailures = 0;
    while (!signal.aborted) {
      if (Date.now() >= nextFull) {
        await this.syncOnce().catch((err: unknown) => this.logFailure('check failed', err));
        nextFull = Date.now() + pollMs;
        continue;
      }
      const waitMs = nextFull - Date.now();
      if (!this.config.queueUrl) {
        await sleep(waitMs, signal);
        continue;
      }
      try {
        await this.pollQueue(Math.min(LONG_POLL_SECONDS, Math.floor(waitMs / 1000)), signal);
        queueFailures = 0;
      } catch (err) {
        if (signal.aborted) break;
        queueFailures++;
        this.logFailure('could not read the agent queue; the periodic check goes on', err);
        await sleep(Math.min(waitMs, 1000 * 2 ** Math.min(queueFailures, 6)), signal);
      }
    }
    this.log.info('agent stopped');
  }

  /** One long poll: checks the certificates the events name, then deletes every message. */
  private async pollQueue(waitSeconds: number, signal: AbortSignal): Promise<void> {
    const queueUrl = this.config.queueUrl!;
    const sqs = (this.sqsClient ??= agentSqsClient(this.config));
    const ctx = { service: 'SQS', resource: queueUrl, clock: this.clock, client: sqs };
    const out = await callAws({ ...ctx, operation: 'ReceiveMessage' }, () =>
      sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: RECEIVE_MAX,
          WaitTimeSeconds: waitSeconds,
        }),
        { abortSignal: signal },
      ),
    );
    const messages = out.Messages ?? [];
    const names = new Set<string>();
    for (const m of messages) {
      const parsed = parseQueueMessage(m.Body);
      if (parsed.kind === 'malformed') {
        this.log.warn('deleting a malformed queue message', { messageId: m.MessageId, error: parsed.error });
      } else if (
        parsed.kind === 'certificate' &&
        Object.hasOwn(this.config.certificates, parsed.certificate)
      ) {
        this.log.info('event received', {
          certificate: parsed.certificate,
          type: parsed.type,
          serial: parsed.serial,
        });
        names.add(parsed.certificate);
      } else {
        this.log.debug('ignoring a message for another certificate', { messageId: m.MessageId });
      }
    }
    // Checked before the delete: should the agent die in between, SQS delivers the event again.
    for (const name of names) await this.syncCertificate(name);
    const entries = messages.flatMap((m, i) =>
      m.ReceiptHandle ? [{ Id: String(i), ReceiptHandle: m.ReceiptHandle }] : [],
    );
    if (entries.length === 0) return;
    const deleted = await callAws({ ...ctx, operation: 'DeleteMessageBatch' }, () =>
      sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries })),
    );
    if (deleted.Failed?.length) {
      this.log.warn('some queue messages could not be deleted; they will come back and be checked again', {
        failed: deleted.Failed.map((f) => `${f.Code}: ${f.Message ?? ''}`),
      });
    }
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(async () => {
      try {
        return await task();
      } finally {
        await this.writeMetrics();
        await this.writeReport();
      }
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** One certificate, start to end; records the outcome in the state file. */
  private async check(name: string): Promise<CertificateReport> {
    // hasOwn: a name like "constructor" must not find Object.prototype's.
    const target = Object.hasOwn(this.config.certificates, name) ? this.config.certificates[name] : undefined;
    if (!target) {
      throw new ValidationError(
        'certificate',
        `"${name}" is not in ${this.config.source}`,
        `add it under "certificates" (configured: ${Object.keys(this.config.certificates).join(', ')})`,
      );
    }
    const state = await this.loadState();
    const entry: CertificateState = { ...state.certificates[name] };
    const now = this.clock.now();
    entry.lastCheck = now.toISOString();
    let report: CertificateReport;
    try {
      report = await this.update(target, entry, now);
    } catch (err) {
      const e = asCertkeeperError(err);
      const action =
        e instanceof RolledBackError ? 'rolled-back' : e instanceof IntegrityError ? 'refused' : 'error';
      report = { name, action, error: e.describe() };
      this.log.error(`certificate ${name}: ${action}`, { error: report.error });
      if (this.config.fallbackSelfSigned) report = await this.fallbackIfNeeded(target, entry, now, report);
    }
    entry.lastError = report.error;
    entry.lastAction = report.action;
    await this.recordServed(target, entry, report);
    state.certificates[name] = entry;
    await writeState(this.config.stateFile, state);
    return report;
  }

  /**
   * With `verify`, what the server presents after this check, for the fleet report: the
   * one thing the fleet view cannot see from the bucket. A failed read is recorded as no
   * served serial; the reload path has its own, patient check.
   */
  private async recordServed(
    target: CertificateTarget,
    entry: CertificateState,
    report: CertificateReport,
  ): Promise<void> {
    const verify = target.verify ?? this.config.verify;
    if (!verify || !this.config.name) return;
    if (report.action === 'installed') {
      // waitUntilServed just saw it: a second handshake could still meet a draining old
      // worker (nginx's reload is graceful) and report the old serial.
      Object.assign(entry, {
        servedSerial: report.serial,
        servedNotAfter: entry.notAfter,
        servedCheckedAt: this.clock.now().toISOString(),
      });
      return;
    }
    const sni = verify.sni ?? entry.identifiers?.find((n) => !n.startsWith('*.') && !/^[0-9.:]+$/.test(n));
    entry.servedCheckedAt = this.clock.now().toISOString();
    try {
      const served = await readServedCertificate(
        { host: verify.host, port: verify.port, sni },
        Math.min(5000, verify.timeoutSeconds * 1000),
      );
      entry.servedSerial = served.serial;
      entry.servedNotAfter = served.notAfter;
    } catch (err) {
      entry.servedSerial = undefined;
      entry.servedNotAfter = undefined;
      this.log.warn(`certificate ${target.name}: could not read what ${verify.host}:${verify.port} serves`, {
        error: (err as Error).message,
      });
    }
  }

  /** After every check: what this server installed and serves, for the fleet view. */
  private async writeReport(): Promise<void> {
    if (!this.reports) return;
    try {
      const state = await readState(this.config.stateFile);
      await writeAgentReport(this.reports, buildAgentReport(this.config, state, this.clock.now()));
    } catch (err) {
      this.logFailure('could not write the agent report (the fleet view will see this agent as silent)', err);
    }
  }

  private async update(
    target: CertificateTarget,
    entry: CertificateState,
    now: Date,
  ): Promise<CertificateReport> {
    const name = target.name;
    const manifest = await this.store.getManifest(name);
    if (!manifest) {
      throw new NotFoundError(
        `${this.store.location}/${manifestKey(name)} does not exist: certificate "${name}" has not been issued (yet)`,
        'check the certificate name and bucket in the agent config; a new certificate appears after the issuer has run',
      );
    }
    entry.identifiers = manifest.identifiers;
    const onDisk = await installedLeaf(target);
    if (
      !entry.fallback &&
      entry.serial !== undefined &&
      sameSerial(entry.serial, manifest.serial) &&
      onDisk !== undefined &&
      sameSerial(onDisk.serialHex, manifest.serial)
    ) {
      return { name, action: 'unchanged', serial: manifest.serial };
    }
    const files = await this.download(manifest);
    const leaf = verifyBundle(manifest, files, {
      identifiers: target.identifiers ?? manifest.identifiers,
      roots: await this.trustedRoots(),
      now,
    });
    await this.install(target, files, manifest.serial, leaf);
    const replaced = entry.fallback ? 'a self-signed fallback' : entry.serial;
    Object.assign(entry, {
      serial: manifest.serial,
      notAfter: leaf.notAfter.toISOString(),
      installedAt: now.toISOString(),
      fallback: undefined,
      fallbackNotAfter: undefined,
    });
    this.log.info(`certificate ${name}: installed serial ${manifest.serial}`, {
      notAfter: leaf.notAfter.toISOString(),
      replaced,
    });
    return { name, action: 'installed', serial: manifest.serial };
  }

  private async download(manifest: Manifest): Promise<Record<BundleFile, string>> {
    const texts = await Promise.all(BUNDLE_FILES.map((f) => this.store.readFile(manifest.files[f].key)));
    return Object.fromEntries(BUNDLE_FILES.map((f, i) => [f, texts[i]!])) as Record<BundleFile, string>;
  }

  /** Installs, reloads and (with verify) waits for the new serial; on failure puts the old files back. */
  private async install(
    target: CertificateTarget,
    files: Record<BundleFile, string>,
    serial: string,
    leaf: ParsedCertificate,
  ): Promise<void> {
    const installed = await installFiles(await this.fileSpecs(target, files));
    try {
      await this.reload(target.name, serial);
      const verify = target.verify ?? this.config.verify;
      if (verify) {
        // Without an explicit SNI, ask for the certificate's own first DNS name.
        const sni = verify.sni ?? leaf.dnsNames.find((n) => !n.startsWith('*.'));
        await waitUntilServed({ ...verify, sni }, serial);
      }
    } catch (err) {
      await this.rollBack(target.name, installed, asCertkeeperError(err));
    }
  }

  private async rollBack(name: string, installed: Installed, cause: CertkeeperError): Promise<never> {
    try {
      await restoreFiles(installed);
    } catch (err) {
      throw new CertkeeperError(
        'internal',
        `${cause.message}; putting the previous files back failed too: ${asCertkeeperError(err).message}`,
        {
          fix: `restore the files from their ${PREVIOUS_SUFFIX} copies by hand, then reload the service`,
          cause,
        },
      );
    }
    await this.reload(name, 'previous').catch((err: unknown) =>
      this.logFailure(`certificate ${name}: reload after the rollback failed`, err),
    );
    throw new RolledBackError(cause);
  }

  private async reload(name: string, serial: string): Promise<void> {
    const reload = this.config.reload;
    if (!reload) return;
    await runCommands(reload.commands, reload.timeoutSeconds * 1000, {
      CERTKEEPER_CERTIFICATE: name,
      CERTKEEPER_SERIAL: serial,
    });
  }

  /**
   * Writes a self-signed certificate when the one on disk is missing or expired (or is an
   * earlier fallback with less than a day left), so the service can start at all.
   */
  private async fallbackIfNeeded(
    target: CertificateTarget,
    entry: CertificateState,
    now: Date,
    report: CertificateReport,
  ): Promise<CertificateReport> {
    let onDisk: ParsedCertificate | undefined;
    try {
      onDisk = await installedLeaf(target);
    } catch {
      // Files that exist but cannot be read (permissions) may be fine: never overwrite them.
      return report;
    }
    const margin = entry.fallback ? DAY : 0;
    if (onDisk && onDisk.notAfter.getTime() - now.getTime() > margin) return report;
    const identifiers = target.identifiers ?? entry.identifiers ?? ['localhost'];
    try {
      const fallback = await selfSignedCertificate(identifiers, now);
      const files = {
        cert: fallback.certPem,
        chain: '',
        fullchain: fallback.certPem,
        privkey: fallback.keyPem,
      };
      await installFiles(await this.fileSpecs(target, files));
      // It never counts as installed: the next certificate that verifies replaces it.
      Object.assign(entry, {
        serial: undefined,
        notAfter: undefined,
        fallback: true,
        fallbackNotAfter: fallback.notAfter.toISOString(),
      });
      this.log.warn(
        `!!! certificate ${target.name}: SERVING A SELF-SIGNED FALLBACK CERTIFICATE (valid until ${fallback.notAfter.toISOString()}). ` +
          `Clients will not trust it. The real certificate could not be installed: ${report.error}. ` +
          `Fix that cause; the agent replaces the fallback as soon as a certificate from the bucket verifies.`,
        { certificate: target.name, identifiers, fullchain: target.fullchain },
      );
      await this.reload(target.name, fallback.serial).catch((err: unknown) =>
        this.logFailure(`certificate ${target.name}: reload after writing the fallback failed`, err),
      );
      return { name: target.name, action: 'fallback', error: report.error };
    } catch (err) {
      this.logFailure(`certificate ${target.name}: could not write the self-signed fallback`, err);
      return report;
    }
  }

  private async fileSpecs(target: CertificateTarget, files: Record<BundleFile, string>): Promise<FileSpec[]> {
    const field = `certificates.${target.name}`;
    const uid =
      target.owner === undefined ? undefined : await resolveId('owner', target.owner, `${field}.owner`);
    const gid =
      target.group === undefined ? undefined : await resolveId('group', target.group, `${field}.group`);
    const cert = (path: string, content: string): FileSpec => ({
      path,
      content,
      mode: target.mode,
      uid,
      gid,
    });
    return [
      cert(target.fullchain, files.fullchain),
      ...(target.cert ? [cert(target.cert, files.cert)] : []),
      ...(target.chain ? [cert(target.chain, files.chain)] : []),
      { path: target.key, content: files.privkey, mode: KEY_MODE, uid, gid },
    ];
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

  private async writeMetrics(): Promise<void> {
    const file = this.config.prometheusTextfile;
    if (!file) return;
    try {
      const state = await readState(this.config.stateFile);
      await writePrometheusTextfile(
        file,
        statusOf(state, this.clock.now(), Object.keys(this.config.certificates)),
      );
    } catch (err) {
      this.logFailure(`could not write ${file}`, err);
    }
  }

  private logFailure(message: string, err: unknown): void {
    this.log.error(message, { error: asCertkeeperError(err).describe() });
  }
}

/**
 * The certificate the service would load now: the fullchain's leaf, if the key file next to
 * it belongs to it. Missing, unreadable or mismatched files count as nothing installed.
 */
async function installedLeaf(target: CertificateTarget): Promise<ParsedCertificate | undefined> {
  const [fullchain, key] = await Promise.all([readIfExists(target.fullchain), readIfExists(target.key)]);
  const leaf = fullchain === undefined ? undefined : pemBlocks(fullchain, 'CERTIFICATE')[0];
  if (leaf === undefined || key === undefined || !keyMatchesCertificate(key, leaf)) return undefined;
  try {
    return parseCertificate(leaf);
  } catch {
    return undefined;
  }
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
