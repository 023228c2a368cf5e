/**
 * Local mode: the issuer's composition (functions/issuer-runtime.ts) over one directory
 * instead of S3, DynamoDB and SNS, so one machine can issue and renew without AWS.
 *
 *   DIR/certificates/<name>/<serial>/*.pem, current.json   the store, same keys as S3 (authoritative)
 *   DIR/accounts/<directory host>/<id>.json                ACME account key (0600), created once
 *   DIR/challenges/http-01/<token>                         only while a validation runs (not with a webroot)
 *   DIR/challenges/tls-alpn-01/<SNI name>                  validation certificate, only while a validation runs
 *   DIR/inventory/<name>.json                              spec + state (FileInventory)
 *   DIR/locks/<name>.lock, <name>.fence                    lease lock (FileLeaseLock)
 *   DIR/settings/<name>.json                               CA, contact, challenge: what `renew` reuses
 *   DIR/live/<name>/{cert,chain,fullchain,privkey}.pem     symlinks to the current serial's files
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { lstat, mkdir, readlink, rename, symlink, unlink } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import * as z from 'zod';
import { parseListen } from '../../agent/config.js';
import { AcmeAccounts, AcmeCertificateAuthority, type OrderStep } from '../../shared/acme/index.js';
import type { CertificateAuthority } from '../../shared/acme/ca.js';
import { Dns01Solver } from '../../shared/challenges/dns01/solver.js';
import { S3Http01Solver } from '../../shared/challenges/http01/s3.js';
import { startHttp01Responder } from '../../shared/challenges/http01/responder.js';
import { solverSelector } from '../../shared/challenges/select.js';
import type { Challenge, ChallengeSolver } from '../../shared/challenges/solver.js';
import { startTlsAlpn01Responder } from '../../shared/challenges/tlsalpn01/responder.js';
import { ObjectTlsAlpn01Solver } from '../../shared/challenges/tlsalpn01/store.js';
import { MemoryPublisher } from '../../shared/events/publisher.js';
import { FileInventory } from '../../shared/inventory/file.js';
import { FileLeaseLock } from '../../shared/lock/file.js';
import { systemClock } from '../../shared/model/clock.js';
import { CertkeeperError, ValidationError } from '../../shared/model/errors.js';
import type { Log } from '../../shared/model/log.js';
import { type Output, terminalSafe } from '../output.js';
import { DEFAULT_CA_FALLBACK, defaultCaName } from '../../shared/model/cas.js';
import type { Authority } from '../../shared/authorities/authorities.js';
import { NameserverTxtResolver } from '../../shared/dns/resolver.js';
import type { ChallengeType } from '../../shared/model/spec.js';
import type { RenewDeps } from '../../shared/usecases/renew-certificate.js';
import { FsCertificateStore, FsObjectStore } from '../../shared/store/fs-store.js';
import { BUNDLE_FILES, type BundleFile } from '../../shared/store/layout.js';
import { parseStoredJson } from '../../shared/lock/stored.js';
import { WebrootSolver } from './webroot.js';
import { route53Provider } from './route53.js';
import { ObjectPendingKeys } from '../../shared/store/pending-keys.js';

/** How a certificate is issued, kept so `renew --out DIR` needs no flags (as lego keeps its account dir). */
export const localSettings = z.object({
  version: z.literal(1),
  directory: z.url(),
  /** CAs to fall back to, in order (--fallback-directory-url). */
  fallbackDirectories: z.array(z.url()).optional(),
  email: z.string().optional(),
  /** Absolute path of the PEM trusted for the CA's HTTPS (a private CA such as Pebble). */
  caFile: z.string().optional(),
  /** host:port of the HTTP-01 responder, for http-01 certificates. */
  http01Listen: z.string().optional(),
  /** Seconds to wait for a taken http01Listen port (shared with a web server's restarts, or tests). */
  http01ListenRetry: z.number().nonnegative().optional(),
  /** Absolute path of a web server's document root: HTTP-01 tokens are written under it instead. */
  http01Webroot: z.string().optional(),
  /** host:port of the TLS-ALPN-01 responder (acme-tls/1), for tls-alpn-01 certificates. */
  tlsAlpn01Listen: z.string().optional(),
  dns: z.literal('route53').optional(),
  /** `issue --pre-hook` / `--post-hook`, which `renew --out` runs around this certificate's orders (hooks.ts). */
  preHook: z.string().optional(),
  postHook: z.string().optional(),
});
export type LocalSettings = z.infer<typeof localSettings>;

/** The challenge type the settings answer (one of them is set: issue checks it). */
export function challengeOf(settings: LocalSettings): ChallengeType {
  return settings.dns ? 'dns-01' : settings.tlsAlpn01Listen !== undefined ? 'tls-alpn-01' : 'http-01';
}

export const settingsKey = (name: string): string => `settings/${name}.json`;
export const liveDir = (out: string, name: string): string => join(resolve(out), 'live', name);
export const livePath = (out: string, name: string, file: BundleFile): string =>
  join(liveDir(out, name), `${file}.pem`);

export interface LocalDir {
  root: string;
  objects: FsObjectStore;
  store: FsCertificateStore;
  lock: FileLeaseLock;
  inventory: FileInventory;
}

/** Opens DIR; nothing is created until something is written. */
export function openLocalDir(out: string): LocalDir {
  const root = resolve(out);
  const lock = new FileLeaseLock({ dir: join(root, 'locks') });
  return {
    root,
    objects: new FsObjectStore({ root }),
    store: new FsCertificateStore({ root }),
    lock,
    inventory: new FileInventory({ dir: join(root, 'inventory'), lock }),
  };
}

export async function readSettings(dir: LocalDir, name: string): Promise<LocalSettings | undefined> {
  const text = await dir.objects.get(settingsKey(name));
  if (text === undefined) return undefined;
  const where = join(dir.root, settingsKey(name));
  return parseStoredJson(localSettings, text, {
    where,
    fix: `run certkeeper issue again for ${name}, or pass --directory-url to renew`,
  });
}

export async function writeSettings(dir: LocalDir, name: string, settings: LocalSettings): Promise<void> {
  await dir.objects.put(settingsKey(name), `${JSON.stringify(settings, null, 2)}\n`);
}

/** The CA PEM from --ca-file, read up front so a wrong path is a usage error. */
/**
 * The PEM trusted for the CA's HTTPS: `--ca-file`, else CERTKEEPER_ACME_CA_PEM (the PEM itself
 * or a path, as the Lambdas read it), else the system roots (undefined).
 */
export function readCaFile(path: string | undefined, flag = '--ca-file'): string | undefined {
  if (!path) {
    const env = process.env.CERTKEEPER_ACME_CA_PEM;
    if (!env) return undefined;
    return env.startsWith('-----BEGIN') ? env : readCaFile(env, 'CERTKEEPER_ACME_CA_PEM');
  }
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ValidationError(
      flag,
      `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      'give the path of the PEM file of the CA behind the ACME server',
    );
  }
}

/**
 * When an HTTP-01 validation failed because the CA could not fetch the token, and the
 * responder listens on another port than the one the CA fetched from (80 for a real CA,
 * RFC 8555 §8.3; whatever port a test CA is configured with), the Fix names both ports.
 * The port comes from the challenge URL the CA reports in its problem detail.
 */
export function http01PortFix(errorText: string, http01Listen: string | undefined): string | undefined {
  if (!http01Listen) return undefined;
  const url = /https?:\/\/(\[[^\]]+\]|[^/:\s"]+)(?::(\d+))?\/\.well-known\/acme-challenge\//.exec(errorText);
  if (!url) return undefined;
  const caPort = Number(url[2] ?? 80);
  let listen: { host: string; port: number };
  try {
    listen = parseListen(http01Listen, '--http01-listen');
  } catch {
    return undefined;
  }
  if (listen.port === caPort) return undefined;
  return `the CA fetches the token from port ${caPort}, but --http01-listen ${http01Listen} answers on port ${listen.port}: pass --http01-listen 0.0.0.0:${caPort}, or forward port ${caPort} to ${listen.port}`;
}

export function checkListen(text: string, flag = '--http01-listen'): { host: string; port: number } {
  return parseListen(text, flag);
}

export interface Reporter {
  log: Log;
  /** An order step of one certificate (order, validation, finalize...). */
  step(name: string, step: OrderStep): void;
  /** Something worth a line while it happens (the responder started, a wait for the port). */
  note(text: string): void;
}

/** Lines for people on stderr, so stdout stays the result (a table, or JSON for scripts). */
export function say(out: Output, text: string): void {
  if (!out.json) process.stderr.write(`${terminalSafe(text)}\n`);
}
/** Errors go to stderr always, --json or not: the exit code tells scripts, the text tells people. */
export function sayError(text: string): void {
  process.stderr.write(`certkeeper: ${terminalSafe(text)}\n`);
}

/** Progress (order, validation, finalize) and the log of shared/ as TTY-only progress lines. */
export function reporterFor(out: Output): Reporter {
  const line = (message: string, extra?: Record<string, unknown>) =>
    out.progress(extra && Object.keys(extra).length > 0 ? `${message} ${JSON.stringify(extra)}` : message);
  return {
    log: { debug: () => {}, info: line, warn: line, error: line },
    step: (name, step) => out.progress(stepText(name, step)),
    note: (text) => out.progress(text),
  };
}

const STEP_TEXT: Record<OrderStep, string> = {
  order: 'placing the order',
  authorize: 'presenting the challenges',
  validate: 'the CA is validating',
  finalize: 'finalizing',
  download: 'downloading the certificate',
};
export const stepText = (name: string, step: OrderStep): string => `${name}: ${STEP_TEXT[step]}`;

export interface Composition {
  deps: RenewDeps;
  /** Starts the HTTP-01 responder now (when the certificate uses http-01), to fail before writing. */
  listen(): Promise<void>;
  /** Stops the HTTP-01 responder if one was started. */
  close(): Promise<void>;
}

export interface ComposeOptions {
  settings: LocalSettings;
  caPem: string | undefined;
  reporter: Reporter;
  /** The one certificate this composition serves (progress lines name it). */
  name: string;
  /** Runs before each order is placed (the pre-hook); what it throws fails the order. */
  beforeOrder?: () => Promise<void>;
}

/**
 * RenewDeps for one certificate's settings: the same shape as the Lambda's, over DIR. The
 * responder starts only when the solver is asked to present a challenge, so a `renew` with
 * nothing due never binds the port.
 */
export function composeLocal(dir: LocalDir, options: ComposeOptions): Composition {
  const { settings, reporter } = options;
  const clock = systemClock;
  // The first CA, then the fallbacks, each with its account in DIR/accounts/<host>/.
  const accounts = new AcmeAccounts(dir.objects, { clock });
  const authorities: Authority[] = [settings.directory, ...(settings.fallbackDirectories ?? [])].map(
    (url) => {
      const name = defaultCaName(url);
      const inner = new AcmeCertificateAuthority({
        directoryUrl: url,
        accounts,
        email: settings.email,
        caPem: options.caPem,
        clock,
        warn: (message, extra) => reporter.log.warn(message, extra),
      });
      const ca = withProgress(inner, (step) => reporter.step(options.name, step), options.beforeOrder);
      return { name, ca, settings: { name, directoryUrl: url } };
    },
  );
  const http01 = settings.http01Webroot
    ? new WebrootSolver(settings.http01Webroot)
    : settings.http01Listen
      ? new ListeningSolver(new S3Http01Solver({ store: dir.objects }), {
          flag: '--http01-listen',
          what: 'HTTP-01 responder',
          address: checkListen(settings.http01Listen),
          retryMs: (settings.http01ListenRetry ?? 0) * 1000,
          reporter,
          start: (host, port) => startHttp01Responder({ store: dir.objects, host, port, log: reporter.log }),
        })
      : undefined;
  const tlsAlpn01 = settings.tlsAlpn01Listen
    ? new ListeningSolver(new ObjectTlsAlpn01Solver({ store: dir.objects }), {
        flag: '--tls-alpn01-listen',
        what: 'TLS-ALPN-01 responder',
        address: checkListen(settings.tlsAlpn01Listen, '--tls-alpn01-listen'),
        retryMs: 0,
        reporter,
        start: (host, port) => startTlsAlpn01Responder({ store: dir.objects, host, port, log: reporter.log }),
      })
    : undefined;
  // Route53 with the user's own credentials and region (the SDK's default chain).
  const dns01 =
    settings.dns === 'route53'
      ? new Dns01Solver({ provider: route53Provider(), log: reporter.log })
      : undefined;
  const solverFor = solverSelector({
    'dns-01': (spec) => dns01?.withHostedZone(spec.hostedZoneId),
    'http-01': () => http01,
    'tls-alpn-01': () => tlsAlpn01,
  });
  const listening = [http01, tlsAlpn01].filter((s): s is ListeningSolver => s instanceof ListeningSolver);
  return {
    deps: {
      clock,
      inventory: dir.inventory,
      lock: dir.lock,
      store: dir.store,
      pendingKeys: new ObjectPendingKeys(dir.objects),
      authorities,
      // A local run is rare (a daily cron): move on at the first failure of the CA's own.
      caFallback: { ...DEFAULT_CA_FALLBACK, afterFailures: 1 },
      caa: new NameserverTxtResolver(),
      solverFor,
      events: new MemoryPublisher(),
      log: reporter.log,
    },
    listen: async () => void (await Promise.all(listening.map((s) => s.listen()))),
    close: async () => void (await Promise.all(listening.map((s) => s.close()))),
  };
}

/**
 * The CA with every order reporting its steps (renewCertificate does not ask for them), and
 * `beforeOrder` run first: the order is where renewCertificate has decided to renew.
 */
function withProgress(
  ca: CertificateAuthority,
  onStep: (step: OrderStep) => void,
  beforeOrder: (() => Promise<void>) | undefined,
): CertificateAuthority {
  return {
    directoryUrl: ca.directoryUrl,
    directory: () => ca.directory(),
    issue: async (request, solver) => {
      await beforeOrder?.();
      return ca.issue(
        {
          ...request,
          onProgress: (step) => {
            onStep(step);
            request.onProgress?.(step);
          },
        },
        solver,
      );
    },
    getRenewalInfo: (certId) => ca.getRenewalInfo(certId),
    accountUrl: () => ca.accountUrl(),
    revoke: (pem, reason) => ca.revoke(pem, reason),
  };
}

interface Listener {
  close(): Promise<void>;
}

interface ListeningOptions {
  /** The flag that gave the address, for errors. */
  flag: string;
  what: string;
  address: { host: string; port: number };
  /** How long to wait for a taken port. */
  retryMs: number;
  reporter: Reporter;
  start(host: string, port: number): Promise<Listener>;
}

/**
 * A store-backed solver (HTTP-01 or TLS-ALPN-01) plus the responder that serves what it
 * writes from the same directory, started on the first challenge and kept until close().
 */
class ListeningSolver implements ChallengeSolver {
  readonly type: ChallengeType;
  private responder: Promise<Listener> | undefined;

  constructor(
    private readonly solver: ChallengeSolver,
    private readonly options: ListeningOptions,
  ) {
    this.type = solver.type;
  }

  async listen(): Promise<void> {
    this.responder ??= this.start();
    await this.responder;
  }
  async present(challenges: readonly Challenge[]): Promise<void> {
    await this.listen();
    await this.solver.present(challenges);
  }
  waitReady(challenges: readonly Challenge[]): Promise<void> {
    return this.solver.waitReady(challenges);
  }
  cleanup(challenges: readonly Challenge[]): Promise<void> {
    return this.solver.cleanup(challenges);
  }

  async close(): Promise<void> {
    const pending = this.responder;
    this.responder = undefined;
    if (pending) await (await pending.catch(() => undefined))?.close();
  }

  private async start(): Promise<Listener> {
    const { host, port } = this.options.address;
    const { reporter } = this.options;
    const deadline = Date.now() + this.options.retryMs;
    let told = false;
    for (;;) {
      try {
        const responder = await this.options.start(host, port);
        reporter.note(`${this.options.what} listening on ${host}:${port}`);
        return responder;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' && Date.now() < deadline) {
          if (!told) reporter.note(`${host}:${port} is in use; waiting for it to be free`);
          told = true;
          await new Promise((done) => setTimeout(done, 100));
          continue;
        }
        throw listenError(this.options.flag, host, port, code, err);
      }
    }
  }
}

function listenError(
  flag: string,
  host: string,
  port: number,
  code: string | undefined,
  cause: unknown,
): CertkeeperError {
  const http = flag === '--http01-listen';
  const fix =
    code === 'EADDRINUSE'
      ? http
        ? `stop what listens there, or listen elsewhere and forward /.well-known/acme-challenge/ from port 80 to it (or pass --http01-listen-retry SECONDS to wait for it)`
        : 'listen elsewhere and route ALPN acme-tls/1 on port 443 to it (nginx stream with ssl_preread, or HAProxy: see agent/README.md)'
      : code === 'EACCES'
        ? `ports below 1024 need root or CAP_NET_BIND_SERVICE; or listen on a high port and forward port ${http ? 80 : 443} to it`
        : `check the ${flag} address`;
  return new CertkeeperError('validation', `${flag}: cannot listen on ${host}:${port} (${code ?? 'error'})`, {
    fix,
    retryable: code === 'EADDRINUSE',
    cause,
  });
}

/**
 * Points DIR/live/<name>/*.pem at the current serial's files (relative symlinks, so DIR can
 * move). Each link is replaced atomically (a new link renamed over the old one), so a server
 * reading them never finds one missing. The key is linked, never copied: it stays 0600 in one place.
 */
export async function updateLiveLinks(
  dir: LocalDir,
  out: string,
  name: string,
): Promise<Record<BundleFile, string>> {
  const manifest = await dir.store.getManifest(name);
  if (!manifest) throw new CertkeeperError('not-found', `no current certificate for ${name} in ${dir.root}`);
  const live = liveDir(out, name);
  await mkdir(live, { recursive: true, mode: 0o700 });
  const files = {} as Record<BundleFile, string>;
  for (const file of BUNDLE_FILES) {
    const link = livePath(out, name, file);
    const target = relative(live, join(dir.root, ...manifest.files[file].key.split('/')));
    files[file] = link;
    if ((await readlink(link).catch(() => undefined)) === target) continue;
    const temp = `${link}.${process.pid}.tmp`;
    await unlink(temp).catch(() => undefined);
    await symlink(target, temp);
    await rename(temp, link);
  }
  return files;
}

/** True when DIR exists and holds anything (used to prove bad usage wrote nothing). */
export async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

export const absolute = (path: string): string => (isAbsolute(path) ? path : resolve(path));

/** `sh -c CMD`, its output on stderr (stdout stays the result); resolves to its exit code. */
export function runShell(command: string, env?: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], {
      stdio: ['ignore', process.stderr, process.stderr],
      ...(env ? { env } : {}),
    });
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
