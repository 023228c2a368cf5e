/**
 * nginx for the server agent's end-to-end tests: a real web server that loads the installed
 * certificate and reloads on the agent's command, and whose `stream` module routes ALPN
 * acme-tls/1 to the TLS-ALPN-01 responder; HAProxy, the other front that can route it.
 * Installed from the OS packages (Debian's `nginx`, `libnginx-mod-stream`, `haproxy`), never
 * started here: each test starts its own instance with its own prefix (scripts/test-kit/nginx.ts,
 * test/support/haproxy.ts), so nothing listens on 80/443 and parallel test files never share one.
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

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

/** What the peers install puts in place when nginxInstalled() says no (scripts/peers/apt.ts). */
export const NGINX_PACKAGES: readonly string[] = PACKAGES;
export const NGINX_ELSEWHERE =
  'macOS: brew install nginx haproxy; or set CERTKEEPER_NGINX, CERTKEEPER_NGINX_STREAM_MODULE and CERTKEEPER_HAPROXY';
