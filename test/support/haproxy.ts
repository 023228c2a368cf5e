/**
 * A private HAProxy per test, configured with the TLS-ALPN-01 route agent/README.md
 * documents (agent/proxy-snippets.ts): its own config file in a temp directory, run in the
 * foreground as a child of the test and killed at the end. HAProxy comes from the peers
 * install step (scripts/peers/nginx.ts installs Debian's haproxy beside nginx).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haproxyTlsAlpn, type TlsAlpnRoute } from '../../agent/proxy-snippets.js';
import { findHaproxy, HAPROXY_PACKAGE } from '../../scripts/peers/nginx.js';
import { waitUntil } from '../../scripts/peers/probes.js';
import { exec } from '../../scripts/peers/util.js';

export interface Haproxy {
  stop(): Promise<void>;
}

export async function startHaproxy(route: TlsAlpnRoute): Promise<Haproxy> {
  const binary = findHaproxy();
  if (binary === undefined) {
    throw new Error(
      `haproxy not found: npm test installs it (npx tsx scripts/peers.ts install), or install the "${HAPROXY_PACKAGE}" package, or set CERTKEEPER_HAPROXY`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'certkeeper-haproxy-'));
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    `# certkeeper e2e test front (test/support/haproxy.ts)
global
    maxconn 64

defaults
    timeout connect 5s
    timeout client 30s
    timeout server 30s

${haproxyTlsAlpn(route)}`,
  );
  // -c first: a config HAProxy refuses is reported as such, not as a port that never opens.
  const check = await exec(binary, ['-c', '-f', config], { timeoutMs: 15_000 });
  if (check.code !== 0) throw new Error(`haproxy refused its config: ${check.stdout}${check.stderr}`);
  let output = '';
  const child: ChildProcess = spawn(binary, ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const [host = '127.0.0.1', port] = route.listen.includes(':')
    ? route.listen.split(':')
    : ['127.0.0.1', route.listen];
  try {
    await waitUntil(
      'haproxy accepting connections',
      () =>
        new Promise<void>((resolve, reject) => {
          const socket = connect({ host, port: Number(port) }, () => {
            socket.destroy();
            resolve();
          });
          socket.once('error', reject);
        }),
      10_000,
      () => (child.exitCode !== null ? `haproxy exited: ${output}` : undefined),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
