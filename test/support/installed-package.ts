/**
 * globalSetup of the vitest project `installed` (vitest.config.ts): builds the certkeeper
 * executable and its Debian package from this checkout and installs the package on this
 * machine with dpkg, as an operator would, so that test/e2e/agent.test.ts runs against the
 * INSTALLED /usr/bin/certkeeper and test/packaging/deb.test.ts checks install, upgrade,
 * remove and purge. Needs root (CI runs as root). Afterwards the package is purged, and
 * /etc/certkeeper and /var/lib/certkeeper are removed if this setup found them absent.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildDeb } from '../../packaging/deb.js';
import { buildSea, bundleCli, hostArch } from '../../scripts/build-cli.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Where the packages built for the tests go; test/packaging/deb.test.ts reads them from here. */
export const TEST_PACKAGES = path.join(ROOT, 'dist', 'test-packages');
export const OPERATOR_DIRS = ['/etc/certkeeper', '/var/lib/certkeeper', '/etc/ssl/certkeeper'];

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
  let absent: string[];
  try {
    const started = Date.now();
    await bundleCli();
    await buildSea(hostArch());
    // Uncompressed: this package is installed once here; xz would add a minute of CPU.
    const deb = await buildDeb({ outDir: TEST_PACKAGES, compression: 'none' });
    absent = OPERATOR_DIRS.filter((dir) => !existsSync(dir));
    await dpkg('-i', deb.file);
    console.log(
      `[installed] built and installed ${path.basename(deb.file)} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } catch (err) {
    unlock();
    throw err;
  }
  return async () => {
    try {
      await dpkg('--purge', 'certkeeper');
    } finally {
      for (const dir of absent) rmSync(dir, { recursive: true, force: true });
      unlock();
    }
  };
}
