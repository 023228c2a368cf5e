/**
 * globalSetup of the vitest project `installed` (vitest.config.ts): builds the certkeeper
 * executable and its Debian package from this checkout and installs the package on this
 * machine with dpkg, as an operator would, so that test/e2e/agent.test.ts runs against the
 * INSTALLED /usr/bin/certkeeper and test/packaging/deb.test.ts checks install, upgrade,
 * remove and purge. Needs root (CI runs as root).
 *
 * The tests must start from a machine that never had certkeeper: CI's machine keeps /etc
 * between runs, and the package leaves /etc/certkeeper and the state behind on purge by
 * design, so one run's edited config would be the next run's "fresh install". Operator
 * directories found here are set aside (renamed) before the install and put back afterwards,
 * once the package is purged and what the tests left is removed.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildDeb } from '../../packaging/deb.js';
import { bundleCli } from '../../scripts/cli-bundle.js';
import { buildSea, hostArch } from '../../scripts/sea-build.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Where the packages built for the tests go; test/packaging/deb.test.ts reads them from here. */
export const TEST_PACKAGES = path.join(ROOT, 'dist', 'test-packages');
export const OPERATOR_DIRS = ['/etc/certkeeper', '/var/lib/certkeeper', '/etc/ssl/certkeeper'];
const SET_ASIDE = '.before-certkeeper-tests';

/**
 * Renames the operator directories out of the way and returns what puts them back. A set-aside
 * copy that is already there belongs to a run that died before restoring it: that copy is
 * the machine's own, and the directory beside it is the dead run's leftover.
 */
function setAsideOperatorDirs(): () => void {
  for (const dir of OPERATOR_DIRS) {
    if (existsSync(dir + SET_ASIDE)) rmSync(dir, { recursive: true, force: true });
    else if (existsSync(dir)) renameSync(dir, dir + SET_ASIDE);
  }
  return () => {
    for (const dir of OPERATOR_DIRS) {
      rmSync(dir, { recursive: true, force: true });
      if (existsSync(dir + SET_ASIDE)) renameSync(dir + SET_ASIDE, dir);
    }
  };
}

const execFileAsync = promisify(execFile);

/** dpkg, awaited: installing a 100 MB package takes a while, and a vitest worker must not block. */
export async function dpkg(...args: string[]): Promise<string> {
  return (await execFileAsync('dpkg', args, { encoding: 'utf8' })).stdout;
}

/**
 * The package is installed machine-wide, so two test runs on one machine (worktrees side by
 * side) would purge it under each other: a run holds this lock from install to purge. A
 * lock left by a run that died (its pid gone) is taken over.
 */
const LOCK = '/tmp/certkeeper-installed-package.lock';
const LOCK_WAIT_MS = 15 * 60_000;

async function lockMachinePackage(): Promise<() => void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      return () => rmSync(LOCK, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(path.join(LOCK, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0);
      if (holder > 0 && !alive(holder)) {
        rmSync(LOCK, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another test run (pid ${holder}) still holds ${LOCK}`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export default async function setup(): Promise<() => Promise<void>> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the installed-package tests install a .deb with dpkg and need root (CI runs as root); ' +
        'as another user run `npx vitest run --project repo`',
    );
  }
  const unlock = await lockMachinePackage();
  let restore: () => void = () => {};
  try {
    const started = Date.now();
    await bundleCli();
    await buildSea(hostArch());
    // Uncompressed: this package is installed once here; xz would add a minute of CPU.
    const deb = await buildDeb({ outDir: TEST_PACKAGES, compression: 'none' });
    // Purged first: a run that died mid-way may have left the package installed.
    await dpkg('--purge', 'certkeeper');
    restore = setAsideOperatorDirs();
    await dpkg('-i', deb.file);
    console.log(
      `[installed] built and installed ${path.basename(deb.file)} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } catch (err) {
    restore();
    unlock();
    throw err;
  }
  return async () => {
    try {
      await dpkg('--purge', 'certkeeper');
    } finally {
      restore();
      unlock();
    }
  };
}
