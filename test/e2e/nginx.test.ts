/**
 * The nginx the agent's end-to-end tests stand behind (scripts/test-kit/nginx.ts) behaves as they
 * assume: it serves the files it was started with, a reload picks up replaced files, and a
 * reload with a key that does not fit fails (so an agent sees it) while the old pair stays served.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../scripts/peers/util.js';
import { startNginx, type Nginx } from '../../scripts/test-kit/nginx.js';
import { createTestCa, type IssuedBundle } from '../support/test-ca.js';

const sh = (command: string) => promisify(execFile)('/bin/sh', ['-c', command]);

describe('a private nginx', () => {
  const dir = mkdtempSync(join(tmpdir(), 'certkeeper-nginx-test-'));
  const certPath = join(dir, 'fullchain.pem');
  const keyPath = join(dir, 'privkey.pem');
  let first: IssuedBundle;
  let second: IssuedBundle;
  let nginx: Nginx;

  const install = (pair: IssuedBundle, key = pair.bundle.privkey): void => {
    writeFileSync(certPath, pair.bundle.fullchain);
    writeFileSync(keyPath, key, { mode: 0o600 });
  };

  beforeAll(async () => {
    const ca = await createTestCa();
    [first, second] = await Promise.all([
      ca.issue({ identifiers: ['127.0.0.1'] }),
      ca.issue({ identifiers: ['127.0.0.1'] }),
    ]);
    install(first);
    nginx = await startNginx({ certPath, keyPath, httpPort: 0 });
  });

  afterAll(async () => {
    await nginx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the certificate it was started with, on its own ports', async () => {
    expect(await nginx.servedSerial()).toBe(first.serial);
    expect(nginx.httpPort).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${nginx.httpPort}/.well-known/acme-challenge/none`);
    expect(res.status).toBe(404);
  });

  it('picks up replaced files on reloadCommand', async () => {
    install(second);
    await sh(nginx.reloadCommand);
    await nginx.waitForSerial(second.serial);
  });

  it('fails reloadCommand when the key does not fit, and keeps serving the old pair', async () => {
    install(first, second.bundle.privkey);
    await expect(sh(nginx.reloadCommand)).rejects.toThrow(/key values mismatch|SSL_CTX_use_PrivateKey/);
    expect(await nginx.servedSerial()).toBe(second.serial);
  });

  it('stops: the master exits and the port is closed', async () => {
    const pid = Number(readFileSync(join(nginx.prefix, 'nginx.pid'), 'utf8').trim());
    await nginx.stop();
    expect(isAlive(pid)).toBe(false);
    await expect(nginx.servedSerial()).rejects.toThrow(/ECONNREFUSED/);
  });
});
