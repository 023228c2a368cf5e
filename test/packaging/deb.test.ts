/**
 * The Debian package on a real dpkg: installed by test/support/installed-package.ts
 * (globalSetup of the `installed` project), then upgraded, removed, purged and installed
 * again here. What must hold: the executable runs with nothing but itself, the operator's
 * /etc/certkeeper and the agent's state survive upgrade and purge, and the unit runs the
 * installed binary. Runs in one fork after the repo's tests, never beside the e2e test that
 * uses /usr/bin/certkeeper.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDeb, debPath, packageVersion, UNIT } from '../../packaging/deb.js';
import { hostArch } from '../../scripts/sea-build.js';
import { formatEnrolmentToken, newEnrolmentToken } from '../../shared/agents/token.js';
import { dpkg, TEST_PACKAGES } from '../support/installed-package.js';

const VERSION = packageVersion();
const BIN = '/usr/bin/certkeeper';
const CONFIG = '/etc/certkeeper/agent.json';
const STATE = '/var/lib/certkeeper/agent.json';
const EXAMPLE = '/usr/share/doc/certkeeper/examples/agent.config.json';

const installedVersion = (): string | undefined => {
  const out = spawnSync('dpkg-query', ['-W', '-f', '${Status} ${Version}', 'certkeeper'], {
    encoding: 'utf8',
  });
  const m = /install ok installed (\S+)/.exec(out.stdout);
  return m?.[1];
};

describe('the Debian package', () => {
  const firstDeb = debPath(TEST_PACKAGES, VERSION, hostArch());
  const operatorFiles: Record<string, string> = {};

  afterAll(async () => {
    // Whatever happened above, the e2e test and the teardown find the package installed.
    if (installedVersion() !== VERSION) await dpkg('-i', firstDeb);
  });

  it('installs the executable, which runs from an empty directory with no Node.js and no PATH', () => {
    expect(installedVersion()).toBe(VERSION);
    expect(statSync(BIN).mode & 0o777).toBe(0o755);
    const empty = mkdtempSync(path.join(tmpdir(), 'certkeeper-empty-'));
    try {
      const run = spawnSync(BIN, ['--version'], {
        cwd: empty,
        env: { PATH: '/nonexistent' },
        encoding: 'utf8',
      });
      expect(run.stderr).toBe('');
      // Once: the built file must not run the command twice.
      expect(run.stdout).toBe(`${VERSION}\n`);
      expect(run.status).toBe(0);
      const help = spawnSync(BIN, ['--help'], { cwd: empty, env: {}, encoding: 'utf8' });
      expect(help.stdout).toMatch(/^Usage: certkeeper \[options\] \[command\]/);
      expect(help.stdout).toContain('agent [options]');
      // The code cache trained at build time (cli/sea/bundle.ts) is what V8 runs: a rejected
      // one would still work, only slower, so it is checked here.
      for (const command of ['issue', 'renew', 'status']) {
        const run = spawnSync(BIN, [command, '--help'], {
          cwd: empty,
          env: { PATH: '/nonexistent', CERTKEEPER_DEBUG_CODE_CACHE: '1' },
          encoding: 'utf8',
        });
        expect(run.stderr).toBe('certkeeper: code cache accepted\n');
        expect(run.stdout).toContain(`Usage: certkeeper ${command}`);
      }
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('installs the hardened unit running the installed binary, and leaves the config to agent join', async () => {
    const unit = readFileSync(`/lib/systemd/system/${UNIT}`, 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/certkeeper agent --config \/etc\/certkeeper\/agent\.json$/m);
    expect(unit).toMatch(/^ProtectSystem=strict$/m);
    expect(unit).toMatch(/^StateDirectory=certkeeper$/m);
    // A first install writes no config: one would name another agent and stand in join's way.
    expect(existsSync(CONFIG)).toBe(false);
    expect(statSync('/etc/certkeeper').mode & 0o777).toBe(0o750);
    // The unit's ReadWritePaths, which systemd requires to exist.
    expect(unit).toMatch(/^ReadWritePaths=\/etc\/ssl\/certkeeper$/m);
    expect(statSync('/etc/ssl/certkeeper').isDirectory()).toBe(true);
    // The example (direct mode) is a valid config for the installed agent (it names a bucket
    // nobody owns). Exit 1: nothing installed yet, which `agent status` reports per certificate.
    const status = spawnSync(BIN, ['agent', 'status', '--config', EXAMPLE, '--json'], { encoding: 'utf8' });
    expect(status.status, status.stderr).toBe(1);
    const names = (JSON.parse(status.stdout) as { certificates: { name: string }[] }).certificates.map(
      (c) => c.name,
    );
    expect(names.sort()).toEqual(['site', 'web-1']);
    // Not a conffile: dpkg would delete it on purge.
    expect(await dpkg('-s', 'certkeeper')).not.toMatch(/^Conffiles:/m);
  });

  it('lets agent join use the default paths on a fresh install: only the endpoint stands in its way', () => {
    // An endpoint nothing listens on: join gets past the config and the token, makes its keys
    // in memory, and stops at the request (exit 3) having written nothing.
    const token = formatEnrolmentToken(
      newEnrolmentToken({
        url: 'https://127.0.0.1:9/',
        region: 'eu-west-1',
        agent: 'web-7',
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    );
    const join = spawnSync(BIN, ['agent', 'join', token, '--no-start'], { encoding: 'utf8' });
    expect(join.stderr).toContain('could not');
    expect(join.status, join.stderr).toBe(3);
    expect(existsSync(CONFIG)).toBe(false);
    expect(existsSync('/var/lib/certkeeper/identity')).toBe(false);
  });

  it('an upgrade keeps the edited config and the agent state, and replaces the binary', async () => {
    writeFileSync(CONFIG, readFileSync(EXAMPLE, 'utf8'), { mode: 0o640 });
    const edited = readFileSync(CONFIG, 'utf8').replace(
      '"pollIntervalSeconds": 300',
      '"pollIntervalSeconds": 600',
    );
    expect(edited).toContain('600');
    writeFileSync(CONFIG, edited);
    mkdirSync(path.dirname(STATE), { recursive: true });
    writeFileSync(STATE, '{"version":1,"certificates":{}}\n');
    operatorFiles[CONFIG] = edited;
    operatorFiles[STATE] = readFileSync(STATE, 'utf8');

    const upgrade = await buildDeb({
      version: `${VERSION}+upgrade.1`,
      outDir: TEST_PACKAGES,
      compression: 'none',
    });
    try {
      await dpkg('-i', upgrade.file);
    } finally {
      rmSync(upgrade.file, { force: true });
    }
    expect(installedVersion()).toBe(`${VERSION}+upgrade.1`);
    for (const [file, text] of Object.entries(operatorFiles)) expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('remove takes the binary and the unit; purge keeps /etc/certkeeper and the state; a reinstall keeps the edit', async () => {
    await dpkg('--remove', 'certkeeper');
    expect(existsSync(BIN)).toBe(false);
    expect(existsSync(`/lib/systemd/system/${UNIT}`)).toBe(false);
    for (const [file, text] of Object.entries(operatorFiles)) expect(readFileSync(file, 'utf8')).toBe(text);

    const purged = await dpkg('--purge', 'certkeeper');
    expect(purged).toContain('/etc/certkeeper is kept');
    expect(installedVersion()).toBeUndefined();
    for (const [file, text] of Object.entries(operatorFiles)) expect(readFileSync(file, 'utf8')).toBe(text);

    await dpkg('-i', firstDeb);
    expect(installedVersion()).toBe(VERSION);
    expect(readFileSync(CONFIG, 'utf8')).toBe(operatorFiles[CONFIG]);
  });
});
