/**
 * Debian packages the tests need from the OS (nginx, HAProxy, chromium), installed with one
 * apt-get run when running as root on a system that has it; anywhere else, an error naming
 * what to install, since system packages are the operator's to add.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { execOk, log } from './util.js';

const MINUTE = 60_000;
const POLICY_RC_D = '/usr/sbin/policy-rc.d';

export async function installDebianPackages(packages: readonly string[], elsewhere: string): Promise<void> {
  const apt = ['/usr/bin/apt-get', '/bin/apt-get'].find((path) => existsSync(path));
  const root = process.getuid?.() === 0;
  if (!apt || !root) {
    throw new Error(
      `${packages.join(', ')} ${packages.length > 1 ? 'are' : 'is'} not installed and ${!apt ? 'this system has no apt-get' : 'installing needs root'}: ` +
        `install them (Debian/Ubuntu: sudo apt-get install -y ${packages.join(' ')}); ${elsewhere}`,
    );
  }
  log(`installing ${packages.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Another apt (unattended-upgrades, a parallel CI step) may hold the dpkg lock: wait for it.
  const lockWait = ['-o', 'DPkg::Lock::Timeout=300'];
  await execOk(apt, [...lockWait, 'update'], { env, timeoutMs: 10 * MINUTE, what: 'apt-get update' });
  await withServicesBlocked(() =>
    execOk(apt, [...lockWait, 'install', '-y', '--no-install-recommends', ...packages], {
      env,
      timeoutMs: 15 * MINUTE,
      what: `apt-get install ${packages.join(' ')}`,
    }),
  );
}

/**
 * A package's maintainer scripts start its service where an init system runs (nginx on
 * port 80). Tests must not get a global server they did not ask for, so while installing, a
 * policy-rc.d (honoured by invoke-rc.d and deb-systemd-invoke) denies every service start.
 * An existing policy-rc.d (containers usually have one) is left as it is.
 */
async function withServicesBlocked<T>(fn: () => Promise<T>): Promise<T> {
  if (existsSync(POLICY_RC_D)) return fn();
  writeFileSync(
    POLICY_RC_D,
    '#!/bin/sh\n# certkeeper peers: installing packages without starting them\nexit 101\n',
    {
      mode: 0o755,
    },
  );
  try {
    return await fn();
  } finally {
    rmSync(POLICY_RC_D, { force: true });
  }
}
