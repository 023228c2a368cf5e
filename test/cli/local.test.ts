/**
 * Local mode end to end, as a user runs it: `certkeeper issue` and `certkeeper renew --out`
 * as child processes against Pebble, with the HTTP-01 responder on Pebble's http port
 * (shared with other test files: the CLI waits for it with --http01-listen-retry).
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../scripts/peers/ports.js';
import { userCsr } from '../support/test-keys.js';
import { peers, pebblePost } from '../../scripts/test-kit/peers.js';
import { type Exited, runToEnd } from '../../scripts/test-kit/child.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');
/** Long enough for another test file to finish its turn on Pebble's http port. */
const PORT_WAIT_S = 120;

type Run = Exited;

const certkeeper = (args: string[], env: Record<string, string | undefined> = {}): Promise<Run> =>
  runToEnd(TSX, ['cli/main.ts', ...args], { cwd: REPO, env: { ...process.env, NO_COLOR: '1', ...env } });

let work: string;
let out: string;
let hookLog: string;

const issueArgs = (dir: string, extra: string[] = []): string[] => {
  const { pebble } = peers();
  return [
    'issue',
    '--directory-url',
    pebble.directoryUrl,
    '--email',
    'local-test@example.com',
    '--ip',
    '127.0.0.1',
    '--http01-listen',
    `127.0.0.1:${pebble.httpPort}`,
    '--http01-listen-retry',
    String(PORT_WAIT_S),
    '--ca-file',
    pebble.caCertPath,
    '--out',
    dir,
    ...extra,
  ];
};
// The hook appends one line per run, so the test can count the runs.
const renewArgs = (): string[] => [
  'renew',
  '--out',
  out,
  '--json',
  '--deploy-hook',
  `echo "$CERTKEEPER_CERTIFICATE $CERTKEEPER_FULLCHAIN $CERTKEEPER_PRIVKEY" >> '${hookLog}'`,
];
const hookLines = (): string[] =>
  existsSync(hookLog) ? readFileSync(hookLog, 'utf8').split('\n').filter(Boolean) : [];
const livePem = (file: string): string => readFileSync(join(out, 'live', '127.0.0.1', `${file}.pem`), 'utf8');

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'certkeeper-local-'));
  out = join(work, 'out');
  hookLog = join(work, 'hook.log');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('certkeeper issue and renew --out (local mode, Pebble)', () => {
  let firstSerial: string;

  it('issues an IP certificate on the shortlived profile into DIR', { timeout: 240_000 }, async () => {
    const run = await certkeeper(issueArgs(out, ['--json']));
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as {
      name: string;
      serial: string;
      notAfter: string;
      profile: string;
      files: Record<'cert' | 'chain' | 'fullchain' | 'privkey', string>;
    };
    expect(result).toMatchObject({ name: '127.0.0.1', profile: 'shortlived' });
    firstSerial = result.serial;
    // The switch to shortlived is said, not silent (stderr: stdout is the JSON).
    expect(run.stderr).toBe('');

    const cert = new X509Certificate(livePem('cert'));
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.serialNumber.replace(/^0+/, '')).toBe(firstSerial.replace(/^0+/, ''));
    expect(new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()).toBeLessThanOrEqual(
      160 * 3600_000 + 1000,
    );
    expect(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(livePem('privkey')))).toBe(
      true,
    );
    expect(result.files.fullchain).toBe(join(out, 'live', '127.0.0.1', 'fullchain.pem'));
    // The live files are links into the store, which stays authoritative; the key stays 0600.
    expect(readlinkSync(result.files.privkey)).toBe(
      `../../certificates/127.0.0.1/${firstSerial}/privkey.pem`,
    );
    expect(statSync(result.files.privkey).mode & 0o777).toBe(0o600);
    const manifest = JSON.parse(
      readFileSync(join(out, 'certificates', '127.0.0.1', 'current.json'), 'utf8'),
    ) as {
      serial: string;
      profile: string;
    };
    expect(manifest).toMatchObject({ serial: firstSerial, profile: 'shortlived' });
    // One ACME account key, private to the user.
    const accounts = readdirSync(join(out, 'accounts'), { recursive: true, withFileTypes: true }).filter(
      (e) => e.isFile(),
    );
    expect(accounts).toHaveLength(1);
    expect(statSync(join(accounts[0]!.parentPath, accounts[0]!.name)).mode & 0o777).toBe(0o600);
  });

  it('says so when it picks the shortlived profile (human output)', { timeout: 240_000 }, async () => {
    const dir = join(work, 'human');
    const run = await certkeeper(issueArgs(dir));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/profile shortlived/);
    expect(run.stdout).toMatch(/127\.0\.0\.1 +127\.0\.0\.1 +shortlived/);
    expect(run.stdout).toContain(join(dir, 'live', '127.0.0.1', 'privkey.pem'));
  });

  it('renew does nothing when nothing is due, and runs no hook', { timeout: 240_000 }, async () => {
    const run = await certkeeper(renewArgs());
    expect(run.code, run.stderr).toBe(0);
    const { certificates } = JSON.parse(run.stdout) as {
      certificates: { name: string; status: string; serial: string }[];
    };
    expect(certificates).toEqual([
      expect.objectContaining({ name: '127.0.0.1', status: 'not-due', serial: firstSerial }),
    ]);
    expect(hookLines()).toEqual([]);
  });

  it(
    "renews when Pebble's ARI window has passed, running the deploy hook once",
    { timeout: 240_000 },
    async () => {
      const now = Date.now();
      const ariResponse = JSON.stringify({
        suggestedWindow: {
          start: new Date(now - 48 * 3600_000).toISOString(),
          end: new Date(now - 24 * 3600_000).toISOString(),
        },
      });
      const set = await pebblePost('/set-renewal-info/', { certificate: livePem('cert'), ariResponse });
      expect(set.status).toBe(200);

      const run = await certkeeper(renewArgs());
      expect(run.code, run.stderr).toBe(0);
      const { certificates } = JSON.parse(run.stdout) as {
        certificates: { status: string; serial: string; hook?: { exitCode: number } }[];
      };
      expect(certificates).toHaveLength(1);
      expect(certificates[0]).toMatchObject({ status: 'renewed', hook: { exitCode: 0 } });
      const serial = certificates[0]!.serial;
      expect(serial).not.toBe(firstSerial);
      expect(new X509Certificate(livePem('cert')).serialNumber.replace(/^0+/, '')).toBe(
        serial.replace(/^0+/, ''),
      );
      const live = join(out, 'live', '127.0.0.1');
      expect(hookLines()).toEqual([`127.0.0.1 ${join(live, 'fullchain.pem')} ${join(live, 'privkey.pem')}`]);

      // The new certificate has its own, future window: the next daily run leaves it alone.
      const again = await certkeeper(renewArgs());
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ certificates: [{ status: 'not-due', serial }] });
      expect(hookLines()).toHaveLength(1);
    },
  );

  // Independent of each other and of Pebble's port: run side by side.
  describe.concurrent('bad arguments: exit 2, the flag named, nothing written', () => {
    const cases: [string, (dir: string) => string[], RegExp][] = [
      ['an --ip that is not an address', (dir) => swap(issueArgs(dir), '--ip', '999.1.1.1'), /--ip/],
      [
        'a --domain that is an IP',
        (dir) => issueArgs(dir).map((a) => (a === '--ip' ? '--domain' : a)),
        /--domain/,
      ],
      ['an unknown --key-type', (dir) => issueArgs(dir, ['--key-type', 'dsa']), /--key-type/],
      ['--dns for an IP address', (dir) => issueArgs(dir, ['--dns', 'route53']), /--dns/],
      [
        'a bad --http01-listen',
        (dir) => swap(issueArgs(dir), '--http01-listen', 'nowhere'),
        /--http01-listen/,
      ],
      ['a profile the CA does not offer', (dir) => issueArgs(dir, ['--profile', 'nope']), /--profile/],
      ['a missing --out', (dir) => issueArgs(dir).slice(0, -2), /--out/],
      [
        'a --ca-file that cannot be read',
        (dir) => swap(issueArgs(dir), '--ca-file', join(work, 'missing.pem')),
        /--ca-file/,
      ],
    ];
    for (const [what, args, flag] of cases) {
      it(what, async () => {
        const dir = join(work, `bad-${what.replace(/[^a-z]+/g, '-')}`);
        const run = await certkeeper(args(dir));
        expect(run.code, run.stderr).toBe(2);
        expect(run.stderr).toMatch(flag);
        expect(existsSync(dir)).toBe(false);
      });
    }

    it('renew --out of a directory with no certificates', async () => {
      const dir = join(work, 'empty');
      const run = await certkeeper(['renew', '--out', dir]);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(/--out/);
      expect(existsSync(dir)).toBe(false);
    });
  });
});

describe('local mode as provisioning scripts and cron use it (Pebble)', () => {
  let dir: string;
  let serial: string;
  const issueJson = async (extra: string[] = []) => {
    const run = await certkeeper(issueArgs(dir, ['--json', ...extra]));
    expect(run.code, run.stderr).toBe(0);
    return { run, result: JSON.parse(run.stdout) as { serial: string; ordered: boolean } };
  };
  const renewJson = async (extra: string[]) => {
    const run = await certkeeper(['renew', '--out', dir, '--json', ...extra]);
    const rows = (
      JSON.parse(run.stdout) as { certificates: { status: string; serial: string; problem?: string }[] }
    ).certificates;
    return { run, row: rows[0]! };
  };
  /** An address nothing answers HTTP-01 on: Pebble connects to its own http port, not this. */
  const wrongListen = async () => `127.0.0.1:${(await freePorts({ port: 'tcp' } as const)).port}`;

  beforeAll(() => {
    dir = join(work, 'provisioning');
  });

  it(
    'issue run again for a valid certificate orders nothing; --force orders a new one',
    { timeout: 240_000 },
    async () => {
      const first = await issueJson();
      expect(first.result.ordered).toBe(true);
      serial = first.result.serial;

      const again = await issueJson();
      expect(again.result).toMatchObject({ ordered: false, serial });
      // People are told (stderr, without --json), with the way to order anyway.
      const human = await certkeeper(issueArgs(dir));
      expect(human.code, human.stderr).toBe(0);
      expect(human.stderr).toMatch(/not due for renewal: nothing ordered \(--force orders a new one\)/);
      expect(human.stdout).toContain(serial);

      const forced = await issueJson(['--force']);
      expect(forced.result.ordered).toBe(true);
      expect(forced.result.serial).not.toBe(serial);
      serial = forced.result.serial;
    },
  );

  it('renew --days N renews only when fewer than N days are left', { timeout: 240_000 }, async () => {
    // A shortlived certificate has 160 hours (6.7 days).
    const notDue = await renewJson(['--days', '1']);
    expect(notDue.run.code, notDue.run.stderr).toBe(0);
    expect(notDue.row).toMatchObject({ status: 'not-due', serial });

    const due = await renewJson(['--days', '7']);
    expect(due.run.code, due.run.stderr).toBe(0);
    expect(due.row.status).toBe('renewed');
    expect(due.row.serial).not.toBe(serial);
    serial = due.row.serial;

    const bad = await certkeeper(['renew', '--out', dir, '--days', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--days/);
  });

  it(
    'renew --out exits 1 while the last attempt has failed, though the certificate is not due',
    { timeout: 240_000 },
    async () => {
      // The renewal fails: the CA cannot be reached (Pebble may reuse the account's valid
      // authorization, so a wrong HTTP-01 port would not reliably fail it).
      const dead = `https://127.0.0.1:${(await freePorts({ port: 'tcp' } as const)).port}/dir`;
      // --directory: the old spelling of --directory-url, hidden from --help, still works.
      const failed = await renewJson(['--force', '--directory', dead]);
      expect(failed.run.code, failed.run.stderr).toBe(3);
      expect(failed.row.status).toBe('failed');

      // Cron's next run: waiting out the backoff, so not due, and still a failure to report.
      const next = await renewJson([]);
      expect(next.run.code, next.run.stderr).toBe(1);
      expect(next.row).toMatchObject({ status: 'not-due', serial });
      expect(next.row.problem).toMatch(/^its last attempt failed: /);
      expect(next.run.stderr).toMatch(/last attempt failed/);
    },
  );

  it(
    'trusts the CA from CERTKEEPER_ACME_CA_PEM; without it, the Fix names --ca-file',
    { timeout: 240_000 },
    async () => {
      const { pebble } = peers();
      const withoutCaFile = (d: string) => {
        const args = issueArgs(d, ['--json']);
        const at = args.indexOf('--ca-file');
        return [...args.slice(0, at), ...args.slice(at + 2)];
      };
      const untrusted = await certkeeper(withoutCaFile(join(work, 'untrusted')), {
        CERTKEEPER_ACME_CA_PEM: undefined,
      });
      expect(untrusted.code, untrusted.stderr).toBe(3);
      expect(untrusted.stderr).toMatch(
        /Fix: the CA's HTTPS certificate is not trusted: .*--ca-file PEM or CERTKEEPER_ACME_CA_PEM/,
      );

      const fromEnv = await certkeeper(withoutCaFile(join(work, 'ca-from-env')), {
        CERTKEEPER_ACME_CA_PEM: pebble.caCertPath,
      });
      expect(fromEnv.code, fromEnv.stderr).toBe(0);
      expect(JSON.parse(fromEnv.stdout)).toMatchObject({ ordered: true, name: '127.0.0.1' });
    },
  );

  it(
    'the hooks given to issue are saved, and a cron renew --out runs them without the flags; flags given to renew win',
    { timeout: 240_000 },
    async () => {
      const dir = join(work, 'saved-hooks');
      const log = join(work, 'saved-hooks.log');
      const logged = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
      const issued = await certkeeper([
        ...issueArgs(dir, ['--json']),
        '--pre-hook',
        `echo issue-pre >> '${log}'`,
        '--post-hook',
        `echo issue-post >> '${log}'`,
      ]);
      expect(issued.code, issued.stderr).toBe(0);
      expect(logged()).toBe('issue-pre\nissue-post\n');
      const settings = JSON.parse(readFileSync(join(dir, 'settings', '127.0.0.1.json'), 'utf8')) as object;
      expect(settings).toMatchObject({
        preHook: `echo issue-pre >> '${log}'`,
        postHook: `echo issue-post >> '${log}'`,
      });

      // The cron line names no hook: the saved ones run around the renewal.
      rmSync(log);
      const renewed = await certkeeper(['renew', '--out', dir, '--json', '--force']);
      expect(renewed.code, renewed.stderr).toBe(0);
      expect(JSON.parse(renewed.stdout)).toMatchObject({
        certificates: [{ name: '127.0.0.1', status: 'renewed' }],
        hooks: { pre: 0, post: 0 },
      });
      expect(logged()).toBe('issue-pre\nissue-post\n');

      // A hook given to renew replaces the saved one (each of the two on its own).
      rmSync(log);
      const overridden = await certkeeper([
        'renew',
        '--out',
        dir,
        '--json',
        '--force',
        '--post-hook',
        `echo renew-post >> '${log}'`,
      ]);
      expect(overridden.code, overridden.stderr).toBe(0);
      expect(logged()).toBe('issue-pre\nrenew-post\n');
    },
  );

  it(
    'a failed issue saves no settings, and renew --out then exits 1 for the never-issued certificate',
    { timeout: 240_000 },
    async () => {
      const fresh = join(work, 'never-issued');
      const listen = await wrongListen();
      // The hooks around it: the post-hook runs even though the order fails.
      const hooks = join(work, 'hooks.log');
      const run = await certkeeper([
        ...swap(issueArgs(fresh), '--http01-listen', listen),
        '--pre-hook',
        `echo pre >> '${hooks}'`,
        '--post-hook',
        `echo post >> '${hooks}'`,
      ]);
      expect(run.code, run.stderr).toBe(1);
      expect(readFileSync(hooks, 'utf8')).toBe('pre\npost\n');
      expect(existsSync(join(fresh, 'settings', '127.0.0.1.json'))).toBe(false);
      // The CA fetched the token from its port, not the one given: the Fix says which.
      // Unless another test file's responder held Pebble's shared port just then and answered
      // with the wrong token (unauthorized, no URL to read a port from).
      const { pebble } = peers();
      if (!/ACME unauthorized/.test(run.stderr))
        expect(run.stderr).toContain(
          `Fix: the CA fetches the token from port ${pebble.httpPort}, but --http01-listen ${listen} answers on port ${listen.split(':')[1]}: pass --http01-listen 0.0.0.0:${pebble.httpPort}`,
        );

      const renew = await certkeeper(['renew', '--out', fresh]);
      expect(renew.code, renew.stderr).toBe(1);
      expect(renew.stderr).toMatch(/127\.0\.0\.1: .*(never issued|no CA recorded)/);
    },
  );
});

describe('list --out and remove --out (local mode, Pebble)', () => {
  let dir: string;
  interface Listed {
    name: string;
    identifiers: string[];
    serial: string | null;
    notAfter: string | null;
    daysLeft: number | null;
    lastError: { detail: string; at: string } | null;
    needsAttention: boolean;
  }
  const list = async () => {
    const run = await certkeeper(['list', '--out', dir, '--json']);
    return { run, rows: JSON.parse(run.stdout || '[]') as Listed[] };
  };

  beforeAll(() => {
    dir = join(work, 'manage');
  });

  it(
    'lists each certificate with its serial, expiry, days left and last error',
    { timeout: 240_000 },
    async () => {
      const serials: Record<string, string> = {};
      for (const name of ['one', 'two']) {
        const run = await certkeeper(issueArgs(dir, ['--name', name, '--json']));
        expect(run.code, run.stderr).toBe(0);
        serials[name] = (JSON.parse(run.stdout) as { serial: string }).serial;
      }
      const healthy = await list();
      expect(healthy.run.code, healthy.run.stderr).toBe(0);
      expect(healthy.rows.map((r) => r.name)).toEqual(['one', 'two']);
      for (const row of healthy.rows) {
        expect(row).toMatchObject({ identifiers: ['127.0.0.1'], serial: serials[row.name], lastError: null });
        // Shortlived: 160 hours, so 6 whole days left just after issuance.
        expect(row.daysLeft).toBe(Math.floor((Date.parse(row.notAfter!) - Date.now()) / 86_400_000));
        expect(row.daysLeft).toBe(6);
      }
      const human = await certkeeper(['list', '--out', dir]);
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toMatch(/^NAME +IDENTIFIERS +STATUS +SERIAL +EXPIRES +DAYS LEFT +LAST ERROR/);
      expect(human.stdout).toMatch(new RegExp(`one +127\\.0\\.0\\.1 +valid +${serials.one} .* 6\\b`));

      // A failed renewal (the CA unreachable): the error is listed, and list exits 1.
      const dead = `https://127.0.0.1:${(await freePorts({ port: 'tcp' } as const)).port}/dir`;
      const failed = await certkeeper(['renew', '--out', dir, '--force', '--directory-url', dead]);
      expect(failed.code, failed.stderr).toBe(3);
      const failing = await list();
      expect(failing.run.code, failing.run.stderr).toBe(1);
      for (const row of failing.rows) {
        expect(row.needsAttention).toBe(true);
        expect(row.serial).toBe(serials[row.name]);
        expect(row.lastError?.detail).toBeTruthy();
      }
      const humanFailing = await certkeeper(['list', '--out', dir]);
      expect(humanFailing.stdout).toContain(failing.rows[0]!.lastError!.detail.slice(0, 30));
    },
  );

  it('remove asks for --yes without a terminal, then deletes the certificate but keeps the account', async () => {
    const refused = await certkeeper(['remove', 'one', '--out', dir]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--yes: .*Fix: add --yes/);
    expect(existsSync(join(dir, 'certificates', 'one'))).toBe(true);

    const run = await certkeeper(['remove', 'one', '--out', dir, '--yes', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { removed: boolean; deleted: string[]; kept: string[] };
    expect(result.removed).toBe(true);
    for (const gone of [
      join(dir, 'certificates', 'one'),
      join(dir, 'live', 'one'),
      join(dir, 'settings', 'one.json'),
      join(dir, 'inventory', 'one.json'),
    ]) {
      expect(result.deleted).toContain(gone);
      expect(existsSync(gone), gone).toBe(false);
    }
    // The other certificate and the account are untouched.
    expect(existsSync(join(dir, 'accounts'))).toBe(true);
    expect(readFileSync(join(dir, 'live', 'two', 'fullchain.pem'), 'utf8')).toMatch(/BEGIN CERTIFICATE/);
    const after = await list();
    expect(after.rows.map((r) => r.name)).toEqual(['two']);
    // renew --out no longer knows it.
    const renew = await certkeeper(['renew', '--out', dir, '--json']);
    expect(
      (JSON.parse(renew.stdout) as { certificates: { name: string }[] }).certificates.map((c) => c.name),
    ).toEqual(['two']);

    const unknown = await certkeeper(['remove', 'one', '--out', dir, '--yes']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/"one" is not in .*list --out/);
    const missing = await certkeeper(['list', '--out', join(work, 'no-such-dir')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--out: .*does not exist/);
  });

  it(
    'renew --pre-hook/--post-hook run once around the orders, and the post-hook also after a failure',
    { timeout: 240_000 },
    async () => {
      const log = join(work, 'renew-hooks.log');
      const hooks = (pre: string) => [
        '--pre-hook',
        `${pre}echo pre >> '${log}'`,
        '--post-hook',
        `echo post >> '${log}'`,
        '--deploy-hook',
        `echo deploy >> '${log}'`,
      ];
      const renew = async (extra: string[]) => {
        const run = await certkeeper(['renew', '--out', dir, '--json', ...extra]);
        const result = JSON.parse(run.stdout) as {
          certificates: { name: string; status: string; serial: string; error?: string }[];
          hooks?: { pre: number | null; post: number | null };
        };
        return { run, result, log: existsSync(log) ? readFileSync(log, 'utf8') : '' };
      };
      const before = (await list()).rows[0]!.serial;

      // Nothing ordered (waiting out the backoff of the last failure): no hook runs.
      const idle = await renew(hooks(''));
      expect(idle.result.certificates[0]!.status).toBe('not-due');
      expect(idle.result.hooks).toBeUndefined();
      expect(idle.log).toBe('');

      // Ordered: the pre-hook first, the deploy hook after the renewal, the post-hook last.
      const renewed = await renew(['--force', ...hooks('')]);
      expect(renewed.run.code, renewed.run.stderr).toBe(0);
      expect(renewed.result.certificates[0]!.status).toBe('renewed');
      expect(renewed.result.hooks).toEqual({ pre: 0, post: 0 });
      expect(renewed.log).toBe('pre\ndeploy\npost\n');
      const serial = renewed.result.certificates[0]!.serial;
      expect(serial).not.toBe(before);

      // A failing pre-hook: nothing ordered, the certificate stays, the post-hook still runs.
      rmSync(log);
      const failed = await renew(['--force', ...hooks('exit 3; ')]);
      expect(failed.run.code).toBe(1);
      expect(failed.result.certificates[0]).toMatchObject({ status: 'failed', serial });
      expect(failed.result.certificates[0]!.error).toMatch(/the pre-hook failed \(exit 3\): nothing ordered/);
      expect(failed.result.hooks).toEqual({ pre: 3, post: 0 });
      expect(failed.log).toBe('post\n');
      expect((await list()).rows[0]!.serial).toBe(serial);
    },
  );
});

/** The argument list with the value after `flag` replaced. */
function swap(args: string[], flag: string, value: string): string[] {
  const i = args.indexOf(flag);
  return [...args.slice(0, i + 1), value, ...args.slice(i + 2)];
}

describe('issue --fallback-directory-url (local mode, Pebble)', () => {
  it(
    'issues at the fallback CA when the first is down, names it, and renew --out keeps the list',
    { timeout: 240_000 },
    async () => {
      const dir = join(work, 'fallback');
      const { pebble } = peers();
      // A CA that is down: nothing listens there (ECONNREFUSED).
      const down = `https://127.0.0.1:${(await freePorts({ port: 'tcp' } as const)).port}/dir`;
      const args = issueArgs(dir, ['--json', '--fallback-directory-url', pebble.directoryUrl]);
      args[args.indexOf('--directory-url') + 1] = down;
      const run = await certkeeper(args);
      expect(run.code, run.stderr).toBe(0);
      const listed = await certkeeper(['list', '--out', dir, '--json']);
      const [row] = JSON.parse(listed.stdout) as { ca: string; serial: string }[];
      expect(row?.ca).toBe(`127.0.0.1-${new URL(pebble.directoryUrl).port}`);
      expect(row?.serial).toBe((JSON.parse(run.stdout) as { serial: string }).serial);
      const settings = JSON.parse(readFileSync(join(dir, 'settings', '127.0.0.1.json'), 'utf8')) as {
        directory: string;
        fallbackDirectories: string[];
      };
      expect(settings).toMatchObject({ directory: down, fallbackDirectories: [pebble.directoryUrl] });
      expect((JSON.parse(run.stdout) as { ca: string }).ca).toBe(row?.ca);
    },
  );

  it(
    'issue --csr goes to the fallback CA too when the first is down, and says which CA issued it',
    { timeout: 240_000 },
    async () => {
      const dir = join(work, 'fallback-csr');
      const { pebble } = peers();
      const csrPath = join(work, 'fallback.csr');
      userCsr(join(work, 'fallback.key'), csrPath, 'IP:127.0.0.1');
      const down = `https://127.0.0.1:${(await freePorts({ port: 'tcp' } as const)).port}/dir`;
      const args = issueArgs(dir, [
        '--json',
        '--fallback-directory-url',
        pebble.directoryUrl,
        '--csr',
        csrPath,
      ]);
      args[args.indexOf('--directory-url') + 1] = down;
      args.splice(args.indexOf('--ip'), 2);
      const run = await certkeeper(args);
      expect(run.code, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout) as { ca: string; files: { cert: string } };
      expect(result.ca).toBe(`127.0.0.1-${new URL(pebble.directoryUrl).port}`);
      const cert = new X509Certificate(readFileSync(result.files.cert, 'utf8'));
      expect(cert.subjectAltName).toBe('IP Address:127.0.0.1');
    },
  );

  it('refuses a fallback list without --email (exit 2), naming the flag', async () => {
    const run = await certkeeper([
      'issue',
      '--directory-url',
      'letsencrypt-staging',
      '--fallback-directory-url',
      'letsencrypt',
      '--ip',
      '127.0.0.1',
      '--http01-listen',
      '127.0.0.1:80',
      '--out',
      join(work, 'no-email'),
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--email: is missing, and --fallback-directory-url names more CAs');
  });
});
