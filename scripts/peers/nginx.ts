/**
 * nginx for the server agent's end-to-end tests: a real web server that loads the installed
 * certificate and reloads on the agent's command, and whose `stream` module routes ALPN
 * acme-tls/1 to the TLS-ALPN-01 responder; HAProxy, the other front that can route it.
 * Installed from the OS packages (Debian's `nginx`, `libnginx-mod-stream`, `haproxy`), never
 * started here: each test starts its own instance with its own prefix (scripts/peer-kit/nginx.ts,
 * test/support/haproxy.ts), so nothing listens on 80/443 and parallel test files never share one.
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
/** Debian builds the stream module (ssl_preread included) as a dynamic module, packaged apart. */
export const NGINX_STREAM_PACKAGE = 'libnginx-mod-stream';
export const HAPROXY_PACKAGE = 'haproxy';
const PACKAGES = [NGINX_PACKAGE, NGINX_STREAM_PACKAGE, HAPROXY_PACKAGE];
/** Where Debian's libnginx-mod-stream puts the module. */
const STREAM_MODULES = [
  '/usr/lib/nginx/modules/ngx_stream_module.so',
  '/usr/local/nginx/modules/ngx_stream_module.so',
];
/** Where distributions put the binaries; /usr/sbin is often not on a non-root PATH. */
const WELL_KNOWN = ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'];
const POLICY_RC_D = '/usr/sbin/policy-rc.d';

/** The nginx binary: CERTKEEPER_NGINX, else PATH, else the usual locations; undefined if none. */
export function findNginx(): string | undefined {
  return findBinary('nginx', process.env.CERTKEEPER_NGINX);
}

/** The haproxy binary: CERTKEEPER_HAPROXY, else PATH, else the usual locations. */
export function findHaproxy(): string | undefined {
  return findBinary('haproxy', process.env.CERTKEEPER_HAPROXY);
}

function findBinary(name: string, fromEnv: string | undefined): string | undefined {
  if (fromEnv && fromEnv.trim() !== '') return existsSync(fromEnv) ? fromEnv : undefined;
  const onPath = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '');
  return [...onPath, ...WELL_KNOWN].map((dir) => join(dir, name)).find((candidate) => existsSync(candidate));
}

/**
 * The `load_module` path of nginx's stream module (the dynamic module Debian ships apart);
 * undefined when there is none on disk (a build with the module compiled in needs no line,
 * CERTKEEPER_NGINX_STREAM_MODULE=builtin says so).
 */
export function nginxStreamModule(): string | undefined {
  const fromEnv = process.env.CERTKEEPER_NGINX_STREAM_MODULE;
  if (fromEnv && fromEnv.trim() !== '') return fromEnv;
  return STREAM_MODULES.find((path) => existsSync(path));
}

export function nginxInstalled(): boolean {
  return findNginx() !== undefined && nginxStreamModule() !== undefined && findHaproxy() !== undefined;
}

/**
 * Installs Debian's nginx, its stream module and HAProxy with apt-get when running as root on
 * a system that has it; anywhere else says which packages to install, since installing system
 * packages needs the operator.
 */
export async function installNginx(): Promise<void> {
  const apt = ['/usr/bin/apt-get', '/bin/apt-get'].find((path) => existsSync(path));
  const root = process.getuid?.() === 0;
  if (!apt || !root) {
    throw new Error(
      `nginx with its stream module, or HAProxy, is not installed and ${!apt ? 'this system has no apt-get' : 'installing it needs root'}: ` +
        `install them (Debian/Ubuntu: sudo apt-get install -y ${PACKAGES.join(' ')}; ` +
        'macOS: brew install nginx haproxy), or set CERTKEEPER_NGINX, CERTKEEPER_NGINX_STREAM_MODULE and CERTKEEPER_HAPROXY',
    );
  }
  log(`installing ${PACKAGES.join(', ')} with apt-get (the end-to-end tests start their own servers)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Another apt (unattended-upgrades, a parallel CI step) may hold the dpkg lock: wait for it.
  const lockWait = ['-o', 'DPkg::Lock::Timeout=300'];
  await execOk(apt, [...lockWait, 'update'], { env, timeoutMs: 10 * MINUTE, what: 'apt-get update' });
  await withServicesBlocked(() =>
    execOk(apt, [...lockWait, 'install', '-y', '--no-install-recommends', ...PACKAGES], {
      env,
      timeoutMs: 15 * MINUTE,
      what: `apt-get install ${PACKAGES.join(' ')}`,
    }),
  );
  if (!nginxInstalled())
    throw new Error(
      `nginx, its stream module or haproxy is missing after installing ${PACKAGES.join(' ')} (looked in PATH, /usr/sbin, /usr/lib/nginx/modules)`,
    );
  log('nginx (with its stream module) and HAProxy installed');
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
    '#!/bin/sh\n# certkeeper peers: installing nginx and haproxy without starting them\nexit 101\n',
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
