/**
 * The web root solver runs as root from cron while the web server's user (www-data) may write
 * the web root: nothing that user puts there may turn root's writes or mode changes onto
 * another file (issue 22, item 1). The seam runs the "attacker" at the worst moment: after
 * certkeeper created a file or directory and before it set the mode.
 */
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebrootSolver } from '../../../shared/challenges/http01/webroot.js';
import { ValidationError } from '../../../shared/model/errors.js';
import type { Challenge } from '../../../shared/challenges/solver.js';

const token = 'tok_en-1234567890abcdefghij';
const challenge: Challenge = {
  type: 'http-01',
  identifier: { type: 'ip', value: '192.0.2.1' },
  token,
  value: `${token}.thumbprint`,
};
const mode = (path: string) => statSync(path).mode & 0o7777;

describe('WebrootSolver: symlinks planted in the web root', () => {
  let work: string;
  let webroot: string;
  /** What the attacker aims at: a private file and a private directory outside the web root. */
  let secret: string;
  let privateDir: string;

  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'certkeeper-webroot-unit-'));
    webroot = join(work, 'html');
    mkdirSync(webroot);
    secret = join(work, 'shadow');
    writeFileSync(secret, 'root:secret\n', { mode: 0o600 });
    privateDir = join(work, 'private');
    mkdirSync(privateDir, { mode: 0o700 });
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('the temp file swapped for a symlink between the write and the mode change: the target keeps its mode', async () => {
    const solver = new WebrootSolver(webroot, {
      step: async (step, path) => {
        if (step !== 'write') return;
        rmSync(path);
        symlinkSync(secret, path);
      },
    });
    await solver.present([challenge]).catch(() => undefined);
    expect(mode(secret)).toBe(0o600);
    expect(readFileSync(secret, 'utf8')).toBe('root:secret\n');
    await solver.cleanup([challenge]);
    expect(readFileSync(secret, 'utf8')).toBe('root:secret\n');
  });

  it('a directory it made swapped for a symlink before its mode is set: the target keeps its mode', async () => {
    const solver = new WebrootSolver(webroot, {
      step: async (step, path) => {
        if (step !== 'mkdir') return;
        renameSync(path, `${path}.moved`);
        symlinkSync(privateDir, path);
      },
    });
    await solver.present([challenge]).catch(() => undefined);
    expect(mode(privateDir)).toBe(0o700);
    expect(readdirSync(privateDir)).toEqual([]);
    await solver.cleanup([challenge]);
  });

  it('a symlinked .well-known/acme-challenge is refused with a Fix, and nothing is written where it points', async () => {
    mkdirSync(join(webroot, '.well-known'));
    symlinkSync(privateDir, join(webroot, '.well-known', 'acme-challenge'));
    const solver = new WebrootSolver(webroot);
    const err = await solver.present([challenge]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('--http01-webroot');
    expect((err as ValidationError).message).toContain('.well-known/acme-challenge is a symbolic link');
    expect((err as ValidationError).fix).toMatch(/replace .* with a directory/);
    expect(readdirSync(privateDir)).toEqual([]);
    await solver.cleanup([challenge]);
    expect(lstatSync(join(webroot, '.well-known', 'acme-challenge')).isSymbolicLink()).toBe(true);
  });

  it('a symlinked .well-known is refused too', async () => {
    symlinkSync(privateDir, join(webroot, '.well-known'));
    const err = await new WebrootSolver(webroot).present([challenge]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as ValidationError).message).toContain('.well-known is a symbolic link');
    expect(readdirSync(privateDir)).toEqual([]);
  });

  it('a token file already there as a symlink is not followed: the token replaces the link', async () => {
    mkdirSync(join(webroot, '.well-known', 'acme-challenge'), { recursive: true });
    const path = join(webroot, '.well-known', 'acme-challenge', token);
    symlinkSync(secret, path);
    const solver = new WebrootSolver(webroot);
    await solver.present([challenge]);
    expect(readFileSync(secret, 'utf8')).toBe('root:secret\n');
    expect(lstatSync(path).isFile()).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(challenge.value);
    expect(mode(path)).toBe(0o644);
    await solver.cleanup([challenge]);
    expect(readdirSync(join(webroot, '.well-known', 'acme-challenge'))).toEqual([]);
  });

  it('the normal case: 0755 directories and a 0644 token whatever the umask, all removed at cleanup', async () => {
    const old = process.umask(0o077);
    try {
      const solver = new WebrootSolver(webroot);
      await solver.present([challenge]);
      const dir = join(webroot, '.well-known', 'acme-challenge');
      expect(mode(join(webroot, '.well-known'))).toBe(0o755);
      expect(mode(dir)).toBe(0o755);
      expect(mode(join(dir, token))).toBe(0o644);
      expect(readdirSync(dir)).toEqual([token]);
      await solver.cleanup([challenge]);
      expect(readdirSync(webroot)).toEqual([]);
    } finally {
      process.umask(old);
    }
  });
});
