/**
 * `--http01-webroot`: HTTP-01 answered by a web server that already runs. A real nginx serves
 * a document root on the port a Pebble of this file's own connects to for http-01 (so no
 * other test file competes for it), and Pebble validates by fetching the token through it.
 * `issue --csr` certifies a request made by openssl, validated the same way.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginx, type Nginx } from '../../scripts/test-kit/nginx.js';
import { startPebbleWith, type SwitchedPebble } from '../../scripts/test-kit/pebble-switches.js';
import { userCsr } from '../support/test-keys.js';
import { peers } from '../../scripts/test-kit/peers.js';
import { createTestCa } from '../support/test-ca.js';
import { certkeeper, json } from '../../scripts/test-kit/operator.js';

describe('issue and renew --http01-webroot through nginx, and issue --csr (Pebble)', () => {
  const work = mkdtempSync(join(tmpdir(), 'certkeeper-webroot-'));
  const webroot = join(work, 'html');
  const out = join(work, 'out');
  let pebble: SwitchedPebble;
  let nginx: Nginx;

  const issueArgs = (extra: string[], dir = out): string[] => [
    'issue',
    '--directory-url',
    pebble.directoryUrl,
    '--ca-file',
    peers().pebble.caCertPath,
    '--ip',
    '127.0.0.1',
    '--out',
    dir,
    '--json',
    ...extra,
  ];
  /** The challenge requests nginx answered, as "<status> <path>" from its access log. */
  const challengeRequests = (): string[] =>
    readFileSync(join(nginx.prefix, 'access.log'), 'utf8')
      .split('\n')
      .map((line) => /"GET (\/\.well-known\/acme-challenge\/[^ ]+) HTTP\/1\.[01]" (\d{3})/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => `${m[2]} ${m[1]}`);

  beforeAll(async () => {
    pebble = await startPebbleWith({});
    // The web site's own content, which certkeeper must leave alone.
    mkdirSync(webroot);
    writeFileSync(join(webroot, 'index.html'), 'the site\n');
    const tls = await (await createTestCa()).issue({ identifiers: ['127.0.0.1'] });
    writeFileSync(join(work, 'tls.pem'), tls.bundle.fullchain);
    writeFileSync(join(work, 'tls.key'), tls.bundle.privkey, { mode: 0o600 });
    nginx = await startNginx({
      certPath: join(work, 'tls.pem'),
      keyPath: join(work, 'tls.key'),
      httpPort: pebble.httpPort,
      // As a site's config would: the document root served on port 80 (here Pebble's port).
      httpDirectives: `location /.well-known/acme-challenge/ { root ${webroot}; default_type text/plain; }`,
    });
  }, 60_000);

  afterAll(async () => {
    await nginx?.stop();
    await pebble?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it(
    'Pebble fetches the token from nginx; the token and the directories made for it are gone afterwards',
    { timeout: 120_000 },
    async () => {
      const run = await certkeeper(issueArgs(['--http01-webroot', webroot]), {});
      expect(run.code, run.stderr).toBe(0);
      const result = json<{ ordered: boolean; serial: string; identifiers: string[] }>(run);
      expect(result).toMatchObject({ ordered: true, identifiers: ['127.0.0.1'] });

      // Pebble's VA asked nginx for the token and got it (more than once: it validates from
      // several perspectives), and nothing else was asked of it.
      const requests = challengeRequests();
      expect(requests.length).toBeGreaterThan(0);
      expect(new Set(requests.map((r) => r.split(' ')[0]))).toEqual(new Set(['200']));
      // Cleaned up: no token left, not even the .well-known directory certkeeper created;
      // the site's own file untouched.
      expect(readdirSync(webroot)).toEqual(['index.html']);
      expect(readFileSync(join(webroot, 'index.html'), 'utf8')).toBe('the site\n');
      // renew --out reuses the web root: it is saved, absolute.
      const settings = JSON.parse(readFileSync(join(out, 'settings', '127.0.0.1.json'), 'utf8')) as {
        http01Webroot?: string;
        http01Listen?: string;
      };
      expect(settings).toMatchObject({ http01Webroot: webroot });
      expect(settings.http01Listen).toBeUndefined();
    },
  );

  it('an existing .well-known directory and its other files are kept', { timeout: 120_000 }, async () => {
    mkdirSync(join(webroot, '.well-known', 'acme-challenge'), { recursive: true });
    writeFileSync(join(webroot, '.well-known', 'security.txt'), 'Contact: mailto:ops@example.com\n');
    const before = challengeRequests().length;
    const run = await certkeeper(['renew', '--out', out, '--force', '--json'], {});
    expect(run.code, run.stderr).toBe(0);
    expect(json<{ certificates: { status: string }[] }>(run).certificates[0]!.status).toBe('renewed');
    // Pebble may reuse the account's valid authorization on renewal; when it validated
    // again, it did so through nginx, successfully.
    for (const r of challengeRequests().slice(before)) expect(r).toMatch(/^200 /);
    expect(readdirSync(join(webroot, '.well-known')).sort()).toEqual(['acme-challenge', 'security.txt']);
    expect(readdirSync(join(webroot, '.well-known', 'acme-challenge'))).toEqual([]);
  });

  it(
    'a web root the server does not serve fails validation with a Fix naming both places',
    { timeout: 120_000 },
    async () => {
      const elsewhere = join(work, 'not-served');
      mkdirSync(elsewhere);
      // Another directory, so another ACME account: Pebble cannot reuse the first one's
      // valid authorization and must validate.
      const other = join(work, 'out-unserved');
      const run = await certkeeper(issueArgs(['--http01-webroot', elsewhere], other), {});
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(/issuance failed: .*acme-challenge/);
      expect(run.stderr).toContain(
        `certkeeper had written that token to ${elsewhere}/.well-known/acme-challenge/`,
      );
      // Nothing left behind there either.
      expect(readdirSync(elsewhere)).toEqual([]);
      expect(existsSync(join(other, 'settings', '127.0.0.1.json'))).toBe(false);
    },
  );

  it(
    "issue --csr certifies the request; the key stays the user's and nothing is kept for renewal",
    { timeout: 120_000 },
    async () => {
      const dir = join(work, 'out-csr');
      const keyPath = join(work, 'user.key');
      const csrPath = join(work, 'user.csr');
      userCsr(keyPath, csrPath, 'IP:127.0.0.1');
      const run = await certkeeper(
        [
          'issue',
          '--directory-url',
          pebble.directoryUrl,
          '--ca-file',
          peers().pebble.caCertPath,
          '--csr',
          csrPath,
          '--http01-webroot',
          webroot,
          '--out',
          dir,
          '--name',
          'mine',
          '--json',
        ],
        {},
      );
      expect(run.code, run.stderr).toBe(0);
      const result = json<{
        name: string;
        identifiers: string[];
        profile: string;
        serial: string;
        files: Record<'cert' | 'chain' | 'fullchain', string>;
      }>(run);
      expect(result).toMatchObject({ name: 'mine', identifiers: ['127.0.0.1'], profile: 'shortlived' });
      expect(result.files.fullchain).toBe(join(dir, 'csr', 'mine', 'fullchain.pem'));
      const cert = new X509Certificate(readFileSync(result.files.cert, 'utf8'));
      expect(cert.subjectAltName).toBe('IP Address:127.0.0.1');
      expect(cert.serialNumber.replace(/^0+/, '')).toBe(result.serial.replace(/^0+/, ''));
      // Issued for the user's key, which certkeeper never saw: no private key in DIR but the
      // ACME account's, and nothing in the inventory for renew --out.
      expect(cert.checkPrivateKey(createPrivateKey(readFileSync(keyPath, 'utf8')))).toBe(true);
      const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
      const withKeys = files
        .filter((e) => readFileSync(join(e.parentPath, e.name), 'utf8').includes('PRIVATE KEY'))
        .map((e) => join(e.parentPath, e.name));
      for (const path of withKeys) expect(path.startsWith(join(dir, 'accounts'))).toBe(true);
      expect(existsSync(join(dir, 'certificates'))).toBe(false);
      const listed = await certkeeper(['list', '--out', dir, '--json'], {});
      expect(json<unknown[]>(listed)).toEqual([]);
      expect(readFileSync(result.files.fullchain, 'utf8')).toBe(
        readFileSync(result.files.cert, 'utf8') + readFileSync(result.files.chain, 'utf8'),
      );
    },
  );

  it('bad usage with --csr: a file that is not a request, or identifiers given as well', async () => {
    const notCsr = await certkeeper(
      issueArgs(['--http01-webroot', webroot, '--csr', join(work, 'tls.pem')]).filter(
        (a, i, all) => !(a === '--ip' || all[i - 1] === '--ip'),
      ),
      {},
    );
    expect(notCsr.code).toBe(2);
    expect(notCsr.stderr).toMatch(/--csr: .*tls\.pem is not a PEM certificate signing request/);
    const both = await certkeeper(
      issueArgs(['--http01-webroot', webroot, '--csr', join(work, 'user.csr')]),
      {},
    );
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--ip: cannot be combined with --csr/);
  });

  it('bad usage: a web root that does not exist, or two ways to answer', async () => {
    const missing = await certkeeper(issueArgs(['--http01-webroot', join(work, 'nope')]), {});
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--http01-webroot: .*nope is not a directory \(ENOENT\)/);
    const both = await certkeeper(
      issueArgs(['--http01-webroot', webroot, '--http01-listen', '127.0.0.1:1']),
      {},
    );
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--http01-webroot: both --http01-listen and --http01-webroot were given/);
  });
});
