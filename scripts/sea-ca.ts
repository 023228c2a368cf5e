/**
 * A private Pebble for training the executable's code caches on a real order
 * (scripts/sea-build.ts): `issue` and `renew --out` then find the bytecode of everything
 * they run (ACME requests, JWS, the CSR, the stored records) in their cache, not only of
 * what loads before the first request. Started from the Pebble that `npm run peers --
 * install` put in ~/.cache/certkeeper/bin, with its own throwaway TLS certificate and ports,
 * and stopped after training. Without that binary the caches are trained as before (no
 * network), which only costs the first run of each flow its compile time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachePaths } from './peers/config.js';
import { freePorts } from './peers/ports.js';
import { probeHttp } from './peers/probes.js';
import { generateTls } from './peers/tls.js';
import { sleep } from './peers/util.js';

export interface TrainingCa {
  directoryUrl: string;
  /** PEM file of the CA behind Pebble's HTTPS (the CLI's --ca-file). */
  caFile: string;
  /** Where Pebble connects for http-01 (127.0.0.1). */
  httpPort: number;
  close(): Promise<void>;
}

/** Pebble on fresh ports under `dir`, or undefined (with the reason) when it cannot run here. */
export async function startTrainingCa(dir: string): Promise<TrainingCa | string> {
  const pebble = cachePaths().pebble;
  if (!existsSync(pebble)) return `no Pebble at ${pebble} (npm run peers -- install)`;
  mkdirSync(dir, { recursive: true });
  const tls = await generateTls(dir);
  const ports = await freePorts({ acme: 'tcp', management: 'tcp', http: 'tcp', tls: 'tcp' } as const);
  const config = join(dir, 'pebble-config.json');
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${ports.acme}`,
        managementListenAddress: `127.0.0.1:${ports.management}`,
        certificate: tls.serverCert,
        privateKey: tls.serverKey,
        httpPort: ports.http,
        tlsPort: ports.tls,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        // The profile the CLI asks for an IP certificate (shared/model/spec.ts IP_PROFILE).
        profiles: { shortlived: { description: 'short-lived', validityPeriod: 576_000 } },
      },
    }),
  );
  // No DNS lookups: the training certificate names 127.0.0.1. No nonce rejection, no sleeps.
  const child: ChildProcess = spawn(pebble, ['-config', config, '-dnsserver', '127.0.0.1:9', '-strict'], {
    env: { PATH: process.env.PATH ?? '', PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
    stdio: 'ignore',
  });
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill();
    });
  const directoryUrl = `https://127.0.0.1:${ports.acme}/dir`;
  const ca = readFileSync(tls.caCert, 'utf8');
  for (const deadline = Date.now() + 20_000; ; await sleep(100)) {
    try {
      await probeHttp(directoryUrl, 200, ca);
      return { directoryUrl, caFile: tls.caCert, httpPort: ports.http, close };
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null) {
        await close();
        return `Pebble did not start: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
  }
}
