/**
 * The local composition: the renewal over one directory instead of S3, DynamoDB and SNS,
 * built from the same parts as the AWS composition (parts.ts), so one machine can issue and
 * renew without AWS (`certkeeper issue` / `renew --out DIR`, cli/local/).
 *
 *   DIR/certificates/<name>/<serial>/*.pem, current.json   the store, same keys as S3 (authoritative)
 *   DIR/accounts/<directory host>/<id>.json                ACME account key (0600), created once
 *   DIR/challenges/http-01/<token>                         only while a validation runs (not with a webroot)
 *   DIR/challenges/tls-alpn-01/<SNI name>                  validation certificate, only while a validation runs
 *   DIR/inventory/<name>.json                              spec + state (FileInventory)
 *   DIR/locks/<name>.lock, <name>.fence                    lease lock (FileLeaseLock)
 *   DIR/settings/<name>.json                               CA, contact, challenge: what `renew` reuses (cli/local/settings.ts)
 *   DIR/live/<name>/{cert,chain,fullchain,privkey}.pem     symlinks to the current serial's files (cli/local/live.ts)
 */
import { join, resolve } from 'node:path';
import type { CertificateAuthority, OrderStep } from '../shared/acme/ca.js';
import { Dns01Solver } from '../shared/challenges/dns01/solver.js';
import { startHttp01Responder } from '../shared/challenges/http01/responder.js';
import { S3Http01Solver } from '../shared/challenges/http01/s3.js';
import { WebrootSolver } from '../shared/challenges/http01/webroot.js';
import { parseListen } from '../shared/challenges/listen.js';
import { ListeningSolver } from '../shared/challenges/listening.js';
import { startTlsAlpn01Responder } from '../shared/challenges/tlsalpn01/responder.js';
import { ObjectTlsAlpn01Solver } from '../shared/challenges/tlsalpn01/store.js';
import { NameserverTxtResolver } from '../shared/dns/resolver.js';
import { MemoryPublisher } from '../shared/events/publisher.js';
import { FileInventory } from '../shared/inventory/file.js';
import { FileLeaseLock } from '../shared/lock/file.js';
import { DEFAULT_CA_FALLBACK, defaultCaName } from '../shared/model/cas.js';
import { systemClock } from '../shared/model/clock.js';
import type { Log } from '../shared/model/log.js';
import { FsCertificateStore, FsObjectStore } from '../shared/store/fs-store.js';
import { ObjectPendingKeys } from '../shared/store/pending-keys.js';
import type { RenewDeps } from '../shared/usecases/renew-certificate.js';
import { route53Provider } from './local-route53.js';
import { acmeAccountsFor, authoritiesFor, solversFor } from './parts.js';

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

/** How one certificate is issued locally (cli/local/settings.ts keeps it in DIR). */
export interface LocalWiring {
  /** The CA's ACME directory; then the CAs to fall back to, in order. */
  directory: string;
  fallbackDirectories?: readonly string[] | undefined;
  email?: string | undefined;
  /** host:port of the HTTP-01 responder, and seconds to wait for that port when taken. */
  http01Listen?: string | undefined;
  http01ListenRetry?: number | undefined;
  /** A web server's document root: HTTP-01 tokens are written under it instead. */
  http01Webroot?: string | undefined;
  /** host:port of the TLS-ALPN-01 responder (acme-tls/1). */
  tlsAlpn01Listen?: string | undefined;
  dns?: 'route53' | undefined;
}

/** Where the composition reports what happens (the CLI shows it as progress lines). */
export interface LocalReporter {
  log: Log;
  /** An order step of one certificate (order, validation, finalize...). */
  step(name: string, step: OrderStep): void;
  /** Something worth a line while it happens (the responder started, a wait for the port). */
  note(text: string): void;
}

export interface Composition {
  deps: RenewDeps;
  /** Starts the responders now (for the challenge the certificate uses), to fail before writing. */
  listen(): Promise<void>;
  /** Stops the responders that were started. */
  close(): Promise<void>;
}

export interface ComposeOptions {
  settings: LocalWiring;
  caPem: string | undefined;
  reporter: LocalReporter;
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
  const cas = [settings.directory, ...(settings.fallbackDirectories ?? [])].map((url) => ({
    name: defaultCaName(url),
    directoryUrl: url,
    ...(settings.email ? { contact: settings.email } : {}),
  }));
  const authorities = authoritiesFor(cas, {
    accounts: acmeAccountsFor(dir.objects, clock),
    caPem: options.caPem,
    clock,
    log: reporter.log,
    wrap: (ca) => withProgress(ca, (step) => reporter.step(options.name, step), options.beforeOrder),
  });
  const listening = (what: string, flag: string, listen: string) => ({
    what,
    flag,
    address: parseListen(listen, flag),
    clock,
    note: (text: string) => reporter.note(text),
  });
  const http01 = settings.http01Webroot
    ? new WebrootSolver(settings.http01Webroot)
    : settings.http01Listen
      ? new ListeningSolver(new S3Http01Solver({ store: dir.objects }), {
          ...listening('HTTP-01 responder', '--http01-listen', settings.http01Listen),
          retryMs: (settings.http01ListenRetry ?? 0) * 1000,
          retryHint: 'pass --http01-listen-retry SECONDS to wait for it',
          start: (host, port) =>
            startHttp01Responder({ store: dir.objects, host, port, log: reporter.log, clock }),
        })
      : undefined;
  const tlsAlpn01 = settings.tlsAlpn01Listen
    ? new ListeningSolver(new ObjectTlsAlpn01Solver({ store: dir.objects }), {
        ...listening('TLS-ALPN-01 responder', '--tls-alpn01-listen', settings.tlsAlpn01Listen),
        retryMs: 0,
        start: (host, port) =>
          startTlsAlpn01Responder({ store: dir.objects, host, port, log: reporter.log, clock }),
      })
    : undefined;
  // Route53 with the user's own credentials and region (the SDK's default chain).
  const dns01 =
    settings.dns === 'route53'
      ? new Dns01Solver({ provider: route53Provider(), log: reporter.log })
      : undefined;
  const responders = [http01, tlsAlpn01].filter((s): s is ListeningSolver => s instanceof ListeningSolver);
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
      solverFor: solversFor({ dns01, http01, tlsAlpn01 }),
      events: new MemoryPublisher(),
      log: reporter.log,
    },
    listen: async () => void (await Promise.all(responders.map((s) => s.listen()))),
    close: async () => void (await Promise.all(responders.map((s) => s.close()))),
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
