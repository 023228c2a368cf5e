/**
 * A second Pebble, next to the peers' one, started with Pebble's own fault switches in its
 * environment (e.g. PEBBLE_WFE_NONCEREJECT=50: half of all nonces rejected as badNonce).
 * It reuses the peers' Pebble configuration and HTTPS certificate (so PEBBLE_CA_CERT trusts
 * it) on fresh ports, and resolves through the same test DNS server. Stopped by `close`.
 * With no switches it is simply a Pebble of one's own (its http-01 port included).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cachePaths } from '../peers/config.js';
import { freePorts } from '../peers/ports.js';
import { probeHttp } from '../peers/probes.js';
import { peers } from './peers.js';

export interface SwitchedPebble {
  readonly directoryUrl: string;
  /** Where this Pebble connects for http-01 (127.0.0.1): its own, shared with no other test. */
  readonly httpPort: number;
  /** Where it connects for tls-alpn-01 (127.0.0.1), likewise its own. */
  readonly tlsPort: number;
  close(): Promise<void>;
}

export async function startPebbleWith(
  switches: Record<string, string>,
  /** Fields of Pebble's configuration to replace (e.g. `retryAfter`). */
  overrides: Record<string, unknown> = {},
): Promise<SwitchedPebble> {
  const p = peers();
  const base = JSON.parse(readFileSync(join(dirname(p.pebble.caCertPath), 'pebble-config.json'), 'utf8')) as {
    pebble: Record<string, unknown>;
  };
  const ports = await freePorts({ acme: 'tcp', management: 'tcp', http: 'tcp', tls: 'tcp' } as const);
  const dir = mkdtempSync(join(tmpdir(), 'certkeeper-pebble-'));
  const config = join(dir, 'pebble-config.json');
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        ...base.pebble,
        ...overrides,
        listenAddress: `127.0.0.1:${ports.acme}`,
        managementListenAddress: `127.0.0.1:${ports.management}`,
        // Its own validation ports: free for a test to serve http-01 on, without taking turns.
        httpPort: ports.http,
        tlsPort: ports.tls,
      },
    }),
  );
  const child: ChildProcess = spawn(
    cachePaths().pebble,
    ['-config', config, '-dnsserver', p.dnsServer, '-strict'],
    {
      env: { PATH: process.env.PATH ?? '', PEBBLE_VA_NOSLEEP: '1', ...switches },
      stdio: 'ignore',
    },
  );
  const directoryUrl = `https://127.0.0.1:${ports.acme}/dir`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await probeHttp(directoryUrl, 200, p.pebble.caPem);
      break;
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill();
        throw new Error(`the switched Pebble did not start: ${String(err)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    directoryUrl,
    httpPort: ports.http,
    tlsPort: ports.tls,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
}
