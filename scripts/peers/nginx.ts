/**
 * nginx for the server agent's end-to-end tests: a real web server that loads the installed
 * certificate and reloads on the agent's command. Installed from the OS packages (Debian's
 * `nginx`), never started here: each test starts its own instance with its own prefix
 * (test/support/nginx.ts), so nothing listens on 80/443 and parallel test files never share one.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { execOk, log } from './util.js';

const MINUTE = 60_000;
/**
 * In bookworm `nginx` is the binary package itself (nginx-light became `nginx` plus the echo
 * module); the plain package has the ssl and proxy modules the tests need.
 */
export const NGINX_PACKAGE = 'nginx';
/** Where distributions put the binary; /usr/sbin is often not on a non-root PATH. */
const WELL_KNOWN = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];
const POLICY_RC_D = '/usr/sbin/policy-rc.d';

/** The nginx binary: CERTKEEPER_NGINX, else PATH, else the usual locations; undefined if none. */
export function findNginx(): string | undefined {
  const fromEnv = process.env.CERTKEEPER_NGINX;
  if (fromEnv && fromEnv.trim() !== '') return existsSync(fromEnv) ? fromEnv : undefined;
  const onPath = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, 'nginx'));
  return [...onPath, ...WELL_KNOWN].find((candidate) => existsSync(candidate));
}

export function nginxInstalled(): boolean {
  return findNginx() !== undefined;
}

/**
 * Installs Debian's nginx with apt-get when running as root on a system that has it; anywhere
 * else says which package to install, since installing system packages needs the operator.
 */
export async function installNginx(): Promise<void> {
  const apt = ['/usr/bin/apt-get', '/bin/apt-get'].find((path) => existsSync(path));
  const root = process.getuid?.() === 0;
  if (!apt || !root) {
    throw new Error(
      `nginx is not installed and ${!apt ? 'this system has no apt-get' : 'installing it needs root'}: ` +
        `install the "${NGINX_PACKAGE}" package (Debian/Ubuntu: sudo apt-get install -y ${NGINX_PACKAGE}; ` +
        'macOS: brew install nginx), or set CERTKEEPER_NGINX to an nginx binary',
    );
  }
  log(`installing ${NGINX_PACKAGE} with apt-get (the agent's end-to-end tests start their own nginx)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Another apt (unattended-upgrades, a parallel CI step) may hold the dpkg lock: wait for it.
  const lockWait = ['-o', 'DPkg::Lock::Timeout=300'];
  await execOk(apt, [...lockWait, 'update'], { env, timeoutMs: 10 * MINUTE, what: 'apt-get update' });
  await withServicesBlocked(() =>
    execOk(apt, [...lockWait, 'install', '-y', '--no-install-recommends', NGINX_PACKAGE], {
      env,
      timeoutMs: 15 * MINUTE,
      what: `apt-get install ${NGINX_PACKAGE}`,
    }),
  );
  if (!nginxInstalled())
    throw new Error(`nginx is not on PATH nor in /usr/sbin after installing ${NGINX_PACKAGE}`);
  log('nginx installed');
}

/**
 * The package's maintainer scripts start the system nginx on port 80 where an init system
 * runs. Tests must not get a global server they did not ask for, so while installing, a
 * policy-rc.d (honoured by invoke-rc.d and deb-systemd-invoke) denies every service start.
 * An existing policy-rc.d (containers usually have one) is left as it is.
 */
async function withServicesBlocked<T>(fn: () => Promise<T>): Promise<T> {
  if (existsSync(POLICY_RC_D)) return fn();
  writeFileSync(
    POLICY_RC_D,
    '#!/bin/sh\n# certkeeper peers: installing nginx without starting it\nexit 101\n',
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
