/**
 * The ACME layer against Pebble v2.10.1 (local peers): an IP certificate on the shortlived
 * profile over http-01, account reuse, profile and reachability errors, a failed challenge,
 * order resumption, ARI and revocation.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AcmeAccounts,
  accountIdFor,
  AcmeCertificateAuthority,
  type AcmeCaOptions,
  type IssuedCertificate,
  AcmeTransport,
  type OrderStep,
} from '../../shared/acme/index.js';
import type { Challenge, ChallengeSolver } from '../../shared/challenges/solver.js';
import {
  AcmeProblemError,
  ConflictError,
  UnreachableError,
  ValidationError,
} from '../../shared/model/errors.js';
import { systemClock } from '../../shared/model/clock.js';
import type { Identifier } from '../../shared/model/identifiers.js';
import {
  certId,
  createCsr,
  generateKey,
  keyMatchesCertificate,
  parseCertificate,
  splitPemChain,
  verifyChain,
} from '../../shared/pki/index.js';
import { accountKey } from '../../shared/store/layout.js';
import type { ObjectStore } from '../../shared/store/store.js';
import { listenWhenFree, peers, pebbleRoots } from '../../scripts/test-kit/peers.js';

/** The ObjectStore port in memory, with the adapters' ifAbsent contract (ConflictError). */
class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, { body: string; secret: boolean }>();
  async get(key: string): Promise<string | undefined> {
    return this.objects.get(key)?.body;
  }
  async put(
    key: string,
    body: string,
    options: { secret?: boolean; ifAbsent?: boolean } = {},
  ): Promise<void> {
    if (options.ifAbsent && this.objects.has(key)) throw new ConflictError(`${key} already exists`);
    this.objects.set(key, { body, secret: options.secret ?? false });
  }
  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }
}

/**
 * http-01 on 127.0.0.1:<Pebble's httpPort>, the port Pebble's VA connects to. The listener
 * exists only between present and cleanup, so other test files can take the port between
 * orders; listenWhenFree waits while another file holds it.
 */
class LocalHttp01Solver implements ChallengeSolver {
  readonly type = 'http-01' as const;
  private readonly tokens = new Map<string, string>();
  private server: Server | undefined;
  presented = 0;

  constructor(
    private readonly port: number,
    private readonly serve = true,
  ) {}

  async present(challenges: readonly Challenge[]): Promise<void> {
    this.presented += challenges.length;
    for (const c of challenges) this.tokens.set(c.token, c.value);
    if (this.serve) await this.listen();
  }

  async waitReady(challenges: readonly Challenge[]): Promise<void> {
    if (!this.serve) return;
    for (const c of challenges) {
      const res = await fetch(`http://127.0.0.1:${this.port}/.well-known/acme-challenge/${c.token}`);
      expect(await res.text()).toBe(c.value);
    }
  }

  async cleanup(challenges: readonly Challenge[]): Promise<void> {
    for (const c of challenges) this.tokens.delete(c.token);
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async listen(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => {
      const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
      const value = token ? this.tokens.get(token) : undefined;
      res.writeHead(value ? 200 : 404, { 'Content-Type': 'text/plain' }).end(value ?? 'not found');
    });
    await listenWhenFree(server, this.port);
    this.server = server;
  }
}

const IP: Identifier[] = [{ type: 'ip', value: '127.0.0.1' }];

/** What a cold start makes: its own transport, trusting Pebble's HTTPS API. */
function freshTransport(): AcmeTransport {
  const transport = new AcmeTransport({ clock: systemClock });
  transport.trust(peers().pebble.directoryUrl, peers().pebble.caPem);
  return transport;
}
const SHORTLIVED_SECONDS = 576_000;

describe('ACME against Pebble', () => {
  const store = new MemoryObjectStore();
  let options: AcmeCaOptions;
  let ca: AcmeCertificateAuthority;
  let solver: LocalHttp01Solver;
  let root: string;
  let first: { issued: IssuedCertificate; keyPem: string; csrPem: string; ms: number; steps: OrderStep[] };

  beforeAll(async () => {
    const { pebble } = peers();
    root = (await pebbleRoots()).root;
    options = {
      directoryUrl: pebble.directoryUrl,
      caPem: pebble.caPem,
      email: 'ops@example.com',
      accounts: new AcmeAccounts(store, { transport: freshTransport() }),
      warn: () => {},
    };
    ca = new AcmeCertificateAuthority(options);
    solver = new LocalHttp01Solver(pebble.httpPort);
  });

  async function issueIp(
    request: { profile?: string; resumeOrderUrl?: string; csrPem?: string; keyPem?: string } = {},
  ) {
    const keyPem = request.keyPem ?? generateKey('ecdsa-p256');
    const csrPem = request.csrPem ?? (await createCsr(IP, keyPem));
    const steps: OrderStep[] = [];
    const orders: string[] = [];
    const started = performance.now();
    const issued = await ca.issue(
      {
        identifiers: IP,
        profile: request.profile ?? 'shortlived',
        csrPem,
        ...(request.resumeOrderUrl ? { resumeOrderUrl: request.resumeOrderUrl } : {}),
        onOrder: async (url) => void orders.push(url),
        onProgress: (step) => steps.push(step),
      },
      solver,
    );
    return { issued, keyPem, csrPem, ms: performance.now() - started, steps, orders };
  }

  it('issues a shortlived certificate for 127.0.0.1 over http-01', async () => {
    const result = await issueIp();
    first = result;
    console.info(`IP issuance against Pebble took ${Math.round(result.ms)} ms`);

    const { leaf, chain } = splitPemChain(result.issued.fullchainPem);
    const info = parseCertificate(leaf);
    expect(info.ipAddresses).toEqual(['127.0.0.1']);
    expect(info.dnsNames).toEqual([]);
    expect(info.hasCommonName).toBe(false);
    // RFC 5280 §4.1.2.5: the validity period includes both ends, so Pebble's notAfter is
    // notBefore + 576000 s - 1 s.
    expect((info.notAfter.getTime() - info.notBefore.getTime()) / 1000 + 1).toBe(SHORTLIVED_SECONDS);
    expect(keyMatchesCertificate(result.keyPem, leaf)).toBe(true);
    expect(() => verifyChain(leaf, chain, [root], new Date())).not.toThrow();

    expect(result.orders).toEqual([result.issued.orderUrl]);
    expect(result.steps[0]).toBe('order');
    expect(result.steps.slice(-2)).toEqual(['finalize', 'download']);
  });

  it('stores one KMS-marked account object and reuses it, also after a cold start', async () => {
    const accountObjects = [...store.objects.entries()].filter(([key]) => key.startsWith('accounts/'));
    expect(accountObjects).toHaveLength(1);
    const [key, object] = accountObjects[0]!;
    expect(key).toMatch(/^accounts\/127\.0\.0\.1_\d+\/[0-9a-f]{16}\.json$/);
    expect(object.secret).toBe(true);
    const before = JSON.parse(object.body) as { url: string; keyPem: string };

    const accounts = options.accounts;
    const warm = await accounts.get({ directoryUrl: options.directoryUrl, email: options.email! });
    expect(warm.url).toBe(before.url);
    expect(JSON.stringify(warm)).not.toContain('PRIVATE KEY');

    // A cold start: a new AcmeAccounts over the same store issues with the same account.
    const coldAccounts = new AcmeAccounts(store, { transport: freshTransport() });
    ca = new AcmeCertificateAuthority({ ...options, accounts: coldAccounts });
    await issueIp();
    const cold = await coldAccounts.get({ directoryUrl: options.directoryUrl, email: options.email! });
    expect(cold.url).toBe(before.url);
    const after = JSON.parse(store.objects.get(key)!.body) as { url: string; keyPem: string };
    expect(after).toEqual(before);
  });

  it('registers one key when two cold starts race', async () => {
    const raceStore = new MemoryObjectStore();
    const settings = { directoryUrl: options.directoryUrl, email: 'race@example.com' };
    const [a, b] = await Promise.all([
      new AcmeAccounts(raceStore, { transport: freshTransport() }).get(settings),
      new AcmeAccounts(raceStore, { transport: freshTransport() }).get(settings),
    ]);
    expect(a.url).toBe(b.url);
    expect(raceStore.objects.size).toBe(1);
  });

  it('fails fast, naming the profile, when the directory does not offer it', async () => {
    const error = await issueIp({ profile: 'nope' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('profile');
    expect((error as Error).message).toMatch(/"nope" is not offered by the CA; offered: .*shortlived/);
    expect((error as Error).message).toMatch(/classic/);
  });

  it('names the profile when the CA itself refuses it', async () => {
    // A stale directory that still lists the profile: Pebble then refuses it at newOrder.
    const stale = new AcmeCertificateAuthority(options);
    const real = await stale.directory();
    stale.directory = async () => ({ ...real, profiles: { ...real.profiles, nope: 'gone' } });
    const error = await stale
      .issue({ identifiers: IP, profile: 'nope', csrPem: first.csrPem }, solver)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeProblemError);
    expect((error as AcmeProblemError).type).toMatch(/invalidProfile|malformed/);
    expect((error as Error).message).toContain('profile "nope" is not offered by the CA');
  });

  it('reports a failed challenge with the CA problem of the challenge', async () => {
    const silent = new LocalHttp01Solver(peers().pebble.httpPort, false);
    const keyPem = generateKey('ecdsa-p256');
    // A fresh account: authorizations of the main one may be reused (valid) by Pebble.
    const other = new AcmeCertificateAuthority({ ...options, email: 'fails@example.com' });
    const error = await other
      .issue({ identifiers: IP, profile: 'shortlived', csrPem: await createCsr(IP, keyPem) }, silent)
      .catch((e: unknown) => e);
    expect(silent.presented).toBe(1);
    expect(error).toBeInstanceOf(AcmeProblemError);
    // Nothing listens (connection) or another test's listener answers 404 (unauthorized).
    expect((error as AcmeProblemError).type).toMatch(
      /^urn:ietf:params:acme:error:(connection|unauthorized)$/,
    );
    expect((error as Error).message).toContain('127.0.0.1');
  });

  it('resumes a valid order only for the key it was finalized with', async () => {
    const same = await issueIp({
      resumeOrderUrl: first.issued.orderUrl,
      csrPem: first.csrPem,
      keyPem: first.keyPem,
    });
    expect(same.issued.orderUrl).toBe(first.issued.orderUrl);
    expect(same.orders).toEqual([]); // no new order
    expect(same.issued.fullchainPem).toBe(first.issued.fullchainPem);

    const fresh = await issueIp({ resumeOrderUrl: first.issued.orderUrl });
    expect(fresh.issued.orderUrl).not.toBe(first.issued.orderUrl);
    expect(fresh.orders).toEqual([fresh.issued.orderUrl]);
    expect(keyMatchesCertificate(fresh.keyPem, splitPemChain(fresh.issued.fullchainPem).leaf)).toBe(true);
  });

  it('renews with replaces, and orders without it when the CA refuses it (RFC 9773 §5)', async () => {
    const replaces = certId(splitPemChain(first.issued.fullchainPem).leaf);
    const request = async () =>
      ca.issue(
        {
          identifiers: IP,
          profile: 'shortlived',
          csrPem: await createCsr(IP, generateKey('ecdsa-p256')),
          replaces,
        },
        solver,
      );
    const renewal = await request();
    // The predecessor now has a replacement: Pebble answers alreadyReplaced, and the order
    // is placed again without `replaces`.
    const again = await request();
    expect(again.orderUrl).not.toBe(renewal.orderUrl);
  });

  it('registers the stored key again when the CA no longer knows the account', async () => {
    const lostStore = new MemoryObjectStore();
    const email = 'forgotten@example.com';
    const keyPem = generateKey('ecdsa-p256');
    const key = accountKey(options.directoryUrl, accountIdFor(email));
    const bogusUrl = `${new URL(options.directoryUrl).origin}/my-account/999999999`;
    await lostStore.put(
      key,
      JSON.stringify({
        version: 1,
        directoryUrl: options.directoryUrl,
        contact: [],
        keyPem,
        url: bogusUrl,
        createdAt: new Date().toISOString(),
      }),
    );
    const accounts = new AcmeAccounts(lostStore, { transport: freshTransport() });
    const lost = new AcmeCertificateAuthority({ ...options, email, accounts });
    await lost.issue(
      { identifiers: IP, profile: 'shortlived', csrPem: await createCsr(IP, generateKey('ecdsa-p256')) },
      solver,
    );
    const saved = JSON.parse((await lostStore.get(key))!) as { keyPem: string; url: string };
    expect(saved.keyPem).toBe(keyPem);
    expect(saved.url).not.toBe(bogusUrl);
    expect((await accounts.get({ directoryUrl: options.directoryUrl, email })).url).toBe(saved.url);
  });

  it('reads the ARI window of an issued certificate', async () => {
    const { leaf } = splitPemChain(first.issued.fullchainPem);
    const info = await ca.getRenewalInfo(certId(leaf));
    const cert = parseCertificate(leaf);
    expect(info.suggestedWindow.start.getTime()).toBeLessThan(info.suggestedWindow.end.getTime());
    expect(info.suggestedWindow.start.getTime()).toBeGreaterThanOrEqual(cert.notBefore.getTime());
    expect(info.suggestedWindow.end.getTime()).toBeLessThanOrEqual(cert.notAfter.getTime() + 1000);
    expect(info.retryAfter?.getTime()).toBeGreaterThan(Date.now());
  });

  it('revokes a certificate, after which ARI says renew now', async () => {
    const { leaf } = splitPemChain(first.issued.fullchainPem);
    await ca.revoke(leaf, 'superseded');
    const info = await ca.getRenewalInfo(certId(leaf));
    expect(info.suggestedWindow.start.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it('turns an unreachable directory into UnreachableError naming the URL', async () => {
    const closed = new AcmeCertificateAuthority({ ...options, directoryUrl: 'https://127.0.0.1:1/dir' });
    const error = await closed.directory().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnreachableError);
    expect((error as Error).message).toContain('https://127.0.0.1:1/dir');
    expect((error as UnreachableError).fix).toMatch(/listening/);
  });

  it('refuses an untrusted HTTPS certificate without trusting it globally', async () => {
    const { pebble } = peers();
    // Same CA, but through "localhost": an origin we were never told to trust.
    const url = pebble.directoryUrl.replace('127.0.0.1', 'localhost');
    const untrusted = new AcmeCertificateAuthority({ ...options, directoryUrl: url, caPem: undefined });
    const error = await untrusted.directory().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnreachableError);
    expect((error as UnreachableError).fix).toMatch(/caPem/);
  });

  afterAll(async () => {
    await solver?.cleanup([]);
  });
});
