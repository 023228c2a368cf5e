/**
 * The ChallengeSolver contract: what an ACME order relies on, run against every adapter:
 * dns-01 on Route53 (moto, served by the test DNS server), http-01 through S3 (moto) with the
 * responder that serves the bucket, local mode's http-01 (a directory and its own
 * responder), and tls-alpn-01 the same two ways. Pebble validates one order per adapter; the rest is checked where the CA looks
 * (the DNS server, the responder). A new adapter passes by adding one entry to ADAPTERS.
 * Solver-only behaviour (record grouping, propagation timeouts, token syntax) stays in
 * test/unit/challenges/ and test/integration/challenges.test.ts.
 */
import { randomBytes, randomUUID, type X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { CreateHostedZoneCommand } from '@aws-sdk/client-route-53';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalSettings } from '../../cli/local/settings.js';
import { composeLocal, openLocalDir } from '../../composition/local.js';
import { AcmeAccounts, AcmeCertificateAuthority, AcmeTransport } from '../../shared/acme/index.js';
import { NameserverTxtResolver } from '../../shared/dns/resolver.js';
import { Route53DnsProvider } from '../../shared/challenges/dns01/route53.js';
import { Dns01Solver } from '../../shared/challenges/dns01/solver.js';
import { type Http01Responder, startHttp01Responder } from '../../shared/challenges/http01/responder.js';
import { S3Http01Solver } from '../../shared/challenges/http01/s3.js';
import type { Challenge, ChallengeSolver } from '../../shared/challenges/solver.js';
import { startTlsAlpn01Responder } from '../../shared/challenges/tlsalpn01/responder.js';
import { ObjectTlsAlpn01Solver } from '../../shared/challenges/tlsalpn01/store.js';
import { systemClock } from '../../shared/model/clock.js';
import { ValidationError } from '../../shared/model/errors.js';
import { dnsChallengeName, type Identifier, parseIdentifier } from '../../shared/model/identifiers.js';
import { silentLog } from '../../shared/model/log.js';
import { type ChallengeType, parseCertificateSpec } from '../../shared/model/spec.js';
import { createCsr, generateKey, parseCertificate, splitPemChain } from '../../shared/pki/index.js';
import { acmeIdentifierValue, sniFor } from '../../shared/pki/tls-alpn.js';
import { FsObjectStore } from '../../shared/store/fs-store.js';
import type { ObjectStore } from '../../shared/store/store.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { peers, route53Client, s3Client, uniqueName } from '../../scripts/test-kit/peers.js';

interface Opened {
  solver: ChallengeSolver;
  /** Identifiers this solver can prove: one order's worth, for Pebble. */
  identifiers: Identifier[];
  /** A fresh challenge of the solver's type, as the CA would hand it out. */
  challenge(identifier?: Identifier): Challenge;
  /** True when the CA, looking now, would find this challenge's value. */
  visible(challenge: Challenge): Promise<boolean>;
  /** Starts what answers the CA for this adapter, if anything; returns how to stop it. */
  serveCa(): Promise<() => Promise<void>>;
  /** Lets go of anything held between tests (Pebble's http-01 port). */
  release(): Promise<void>;
  dispose(): Promise<void>;
}

interface SolverAdapter {
  name: string;
  open(): Promise<Opened>;
}

const { pebble, dnsServer } = peers();
const token = () => randomBytes(32).toString('base64url');
const LOCALHOST = parseIdentifier('127.0.0.1');

/** A responder on a free port over `store`: what the CA would fetch, without holding Pebble's port. */
async function http01View(store: ObjectStore) {
  const responder = await startHttp01Responder({ store, host: '127.0.0.1', port: 0 });
  return {
    responder,
    async visible(c: Challenge): Promise<boolean> {
      const url = `http://127.0.0.1:${responder.address.port}/.well-known/acme-challenge/${c.token}`;
      const res = await fetch(url);
      return res.status === 200 && (await res.text()) === c.value;
    },
  };
}

const http01Challenge = (identifier: Identifier = LOCALHOST): Challenge => {
  const t = token();
  return { type: 'http-01', identifier, token: t, value: `${t}.thumbprint` };
};

/**
 * Pebble's http-01 and TLS ports are one each for the whole run: other files take turns on
 * them. Starts the responder on one as soon as it is free.
 */
async function onPebblePort<T>(start: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await start();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > deadline) throw err;
      await new Promise((done) => setTimeout(done, 100));
    }
  }
}

const listenOnPebblePort = (store: ObjectStore): Promise<Http01Responder> =>
  onPebblePort(() => startHttp01Responder({ store, host: '127.0.0.1', port: pebble.httpPort }));

/** A tls-alpn-01 responder on a free port over `store`: the handshake the CA would make. */
async function tlsAlpn01View(store: ObjectStore) {
  const responder = await startTlsAlpn01Responder({ store, host: '127.0.0.1', port: 0 });
  const served = (c: Challenge) =>
    new Promise<X509Certificate | undefined>((resolve) => {
      const socket = connect({
        host: '127.0.0.1',
        port: responder.address.port,
        servername: sniFor(c.identifier),
        ALPNProtocols: ['acme-tls/1'],
        rejectUnauthorized: false,
      });
      socket.once('secureConnect', () => {
        resolve(socket.getPeerX509Certificate());
        socket.destroy();
      });
      socket.once('error', () => resolve(undefined));
      socket.once('close', () => resolve(undefined));
    });
  return {
    responder,
    async visible(c: Challenge): Promise<boolean> {
      const cert = await served(c);
      // The DER of the acmeIdentifier extension value sits verbatim in the certificate.
      return cert !== undefined && cert.raw.includes(acmeIdentifierValue(c.value));
    },
  };
}

/** Each challenge its own name: tls-alpn-01 material is kept per SNI name. */
let tlsNames = 0;
const tlsAlpn01Challenge = (identifier?: Identifier): Challenge => {
  const t = token();
  return {
    type: 'tls-alpn-01',
    identifier: identifier ?? parseIdentifier(`n${++tlsNames}.alpn-contract.test`),
    token: t,
    value: `${t}.thumbprint`,
  };
};

const tlsAlpn01OnPebblePort = (store: ObjectStore) =>
  onPebblePort(() => startTlsAlpn01Responder({ store, host: '127.0.0.1', port: pebble.tlsPort }));

interface View {
  responder: { close(): Promise<void> };
  visible(c: Challenge): Promise<boolean>;
}

/** A solver over an S3 bucket (moto), seen through a responder, served to Pebble on its port. */
function objectStoreAdapter(
  name: string,
  parts: {
    solver(store: ObjectStore): ChallengeSolver;
    view(store: ObjectStore): Promise<View>;
    challenge(identifier?: Identifier): Challenge;
    onPebblePort(store: ObjectStore): Promise<{ close(): Promise<void> }>;
  },
): SolverAdapter {
  return {
    name,
    async open() {
      const client = s3Client();
      const bucket = uniqueName('solver-contract').slice(0, 50);
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      const store = new S3ObjectStore(client, { bucket });
      const view = await parts.view(store);
      return {
        solver: parts.solver(store),
        identifiers: [LOCALHOST],
        challenge: parts.challenge,
        visible: view.visible,
        async serveCa() {
          const responder = await parts.onPebblePort(store);
          return () => responder.close();
        },
        release: async () => {},
        dispose: () => view.responder.close(),
      };
    },
  };
}

/** Local mode's solver for a challenge type: a directory, and the responder it starts itself. */
function localModeAdapter(
  name: string,
  parts: {
    settings: Partial<LocalSettings>;
    type: ChallengeType;
    view(store: ObjectStore): Promise<View>;
    challenge(identifier?: Identifier): Challenge;
  },
): SolverAdapter {
  return {
    name,
    async open() {
      const root = await mkdtemp(join(tmpdir(), 'certkeeper-solver-contract-'));
      const composition = composeLocal(openLocalDir(root), {
        settings: { version: 1, directory: pebble.directoryUrl, ...parts.settings },
        caPem: pebble.caPem,
        reporter: { log: silentLog, step: () => {}, note: () => {} },
        name: 'contract',
      });
      const spec = parseCertificateSpec({
        name: 'contract',
        identifiers: ['127.0.0.1'],
        challenge: parts.type,
      });
      const view = await parts.view(new FsObjectStore({ root }));
      return {
        solver: composition.deps.solverFor(spec)!,
        identifiers: [LOCALHOST],
        challenge: parts.challenge,
        visible: view.visible,
        serveCa: async () => async () => {},
        release: () => composition.close(),
        async dispose() {
          await composition.close();
          await view.responder.close();
          await rm(root, { recursive: true, force: true });
        },
      };
    },
  };
}

const ADAPTERS: SolverAdapter[] = [
  {
    name: 'Dns01Solver on Route53 (moto, test DNS server)',
    async open() {
      const domain = `${uniqueName('solver')}.test`;
      await route53Client().send(
        new CreateHostedZoneCommand({ Name: domain, CallerReference: randomUUID() }),
      );
      const resolver = new NameserverTxtResolver([dnsServer]);
      return {
        solver: new Dns01Solver({
          provider: new Route53DnsProvider(route53Client(), { pollIntervalMs: 100 }),
          nameservers: [dnsServer],
          propagationTimeoutMs: 15_000,
          pollIntervalMs: 100,
        }),
        identifiers: [parseIdentifier(domain), parseIdentifier(`*.${domain}`)],
        challenge: (identifier = parseIdentifier(`www.${domain}`)) => ({
          type: 'dns-01',
          identifier,
          token: token(),
          value: token(),
        }),
        async visible(c) {
          const served = await resolver.resolveTxt(dnsChallengeName(c.identifier));
          return served.some((strings) => strings.join('') === c.value);
        },
        serveCa: async () => async () => {},
        release: async () => {},
        dispose: async () => {},
      };
    },
  },
  objectStoreAdapter('S3Http01Solver on S3 (moto) with the responder', {
    solver: (store) => new S3Http01Solver({ store }),
    view: http01View,
    challenge: http01Challenge,
    onPebblePort: listenOnPebblePort,
  }),
  localModeAdapter('local mode http-01 (directory and its responder)', {
    settings: { http01Listen: `127.0.0.1:${pebble.httpPort}`, http01ListenRetry: 60 },
    type: 'http-01',
    view: http01View,
    challenge: http01Challenge,
  }),
  objectStoreAdapter('ObjectTlsAlpn01Solver on S3 (moto) with the responder', {
    solver: (store) => new ObjectTlsAlpn01Solver({ store }),
    view: tlsAlpn01View,
    challenge: tlsAlpn01Challenge,
    onPebblePort: tlsAlpn01OnPebblePort,
  }),
  localModeAdapter('local mode tls-alpn-01 (directory and its responder)', {
    settings: { tlsAlpn01Listen: `127.0.0.1:${pebble.tlsPort}` },
    type: 'tls-alpn-01',
    view: tlsAlpn01View,
    challenge: tlsAlpn01Challenge,
  }),
];

describe.each(ADAPTERS)('ChallengeSolver contract: $name', (adapter) => {
  let opened: Opened;
  let solver: ChallengeSolver;
  const visible = (cs: Challenge[]) => Promise.all(cs.map((c) => opened.visible(c)));
  beforeAll(async () => {
    opened = await adapter.open();
    solver = opened.solver;
  });
  afterEach(() => opened.release());
  afterAll(() => opened.dispose());

  it('lets the CA validate what it presented, and leaves nothing published after the order', async () => {
    const presented: Challenge[] = [];
    const recording: ChallengeSolver = {
      type: solver.type,
      present: async (cs) => {
        presented.push(...cs);
        return solver.present(cs);
      },
      waitReady: (cs) => solver.waitReady(cs),
      cleanup: (cs) => solver.cleanup(cs),
    };
    const accountsDir = await mkdtemp(join(tmpdir(), 'certkeeper-solver-accounts-'));
    const ca = new AcmeCertificateAuthority({
      directoryUrl: pebble.directoryUrl,
      caPem: pebble.caPem,
      // An account of its own: no authorization another adapter or file won is reused.
      accounts: new AcmeAccounts(new FsObjectStore({ root: accountsDir }), {
        transport: new AcmeTransport({ clock: systemClock }),
      }),
      warn: () => {},
      // Pebble (PEBBLE_VA_NOSLEEP) validates at once: re-check often rather than back off.
      polling: { firstMs: 50, maxMs: 200, attempts: 100, windowMs: 20_000 },
    });
    const stop = await opened.serveCa();
    try {
      const keyPem = generateKey('ecdsa-p256');
      const issued = await ca.issue(
        {
          identifiers: opened.identifiers,
          profile: 'shortlived',
          csrPem: await createCsr(opened.identifiers, keyPem),
        },
        recording,
      );
      const leaf = parseCertificate(splitPemChain(issued.fullchainPem).leaf);
      expect([...leaf.dnsNames, ...leaf.ipAddresses].sort()).toEqual(
        opened.identifiers.map((i) => i.value).sort(),
      );
    } finally {
      await stop();
      await rm(accountsDir, { recursive: true, force: true });
    }
    expect(presented.map((c) => c.type)).toEqual(opened.identifiers.map(() => solver.type));
    expect(await visible(presented)).toEqual(presented.map(() => false));
  });

  it('is ready only once the CA can see every value; cleanup removes them and can run again', async () => {
    const challenges = [opened.challenge(), opened.challenge()];
    await solver.present(challenges);
    await solver.waitReady(challenges);
    expect(await visible(challenges)).toEqual([true, true]);
    await solver.cleanup(challenges);
    expect(await visible(challenges)).toEqual([false, false]);
    await expect(solver.cleanup(challenges)).resolves.toBeUndefined();
  });

  it('cleans up what was never presented without touching what was', async () => {
    const presented = opened.challenge();
    const never = opened.challenge();
    await solver.present([presented]);
    await solver.waitReady([presented]);
    await expect(solver.cleanup([never])).resolves.toBeUndefined();
    expect(await visible([presented, never])).toEqual([true, false]);
    await solver.cleanup([presented]);
    expect(await visible([presented])).toEqual([false]);
  });

  it('refuses a batch holding a challenge of another type, naming it, and publishes none of it', async () => {
    const good = opened.challenge();
    const other: Challenge = {
      ...opened.challenge(),
      type: solver.type === 'dns-01' ? 'http-01' : 'dns-01',
    };
    const err = await solver.present([good, other]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('challenges[1].type');
    expect((err as ValidationError).fix).toContain(solver.type);
    expect(await visible([good])).toEqual([false]);
    // The cleanup that follows a failed present (it always runs) leaves nothing behind.
    await solver.cleanup([good]);
    expect(await visible([good])).toEqual([false]);
  });
});
