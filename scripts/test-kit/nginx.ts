/**
 * A private nginx per test: its own prefix (config, pid file, logs, temp dirs) in a temp
 * directory and its own free ports, so test files running side by side never share one and
 * nothing global (port 80, /run/nginx.pid, /var/log/nginx) is touched. nginx itself comes
 * from the peers install step (scripts/peers/nginx.ts).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { nginxTlsAlpnStream } from '../../agent/proxy-snippets.js';
import { findNginx, NGINX_PACKAGE, nginxStreamModule } from '../peers/nginx.js';
import { freePorts } from '../peers/ports.js';
import { waitUntil } from '../peers/probes.js';
import { exec, isAlive, readFileSafe, sleep, tail } from '../peers/util.js';

export interface NginxOptions {
  /** The certificate (full chain) and key nginx serves; both must be readable at start. */
  certPath: string;
  keyPath: string;
  /**
   * Adds a plain-HTTP server on this port (0: a free one). It answers 404, except for
   * /.well-known/acme-challenge/ when proxyAcmeTo is set.
   */
  httpPort?: number;
  /** 127.0.0.1 port of the agent's http-01 responder; implies the plain-HTTP server. */
  proxyAcmeTo?: number;
  /**
   * Directives for the plain-HTTP server block, verbatim (implies that server): e.g. the
   * proxy snippet the agent suggests, to show that nginx takes it as written.
   */
  httpDirectives?: string;
  /**
   * A `stream` front on 127.0.0.1:<port>, as agent/README.md documents it: ALPN acme-tls/1
   * to 127.0.0.1:<agent> (the TLS-ALPN-01 responder), everything else to the HTTPS server.
   */
  tlsAlpnFront?: { port: number; agent: number };
}

export interface Nginx {
  readonly prefix: string;
  readonly httpsPort: number;
  /** The plain-HTTP server's port, when there is one. */
  readonly httpPort: number | undefined;
  /**
   * For the agent's `reload.commands`, what `systemctl reload nginx` runs on Debian: before
   * signalling the master, `nginx -s reload` parses the whole config, certificate and key
   * included, and exits non-zero when they do not load, so the agent sees a bad pair.
   */
  readonly reloadCommand: string;
  /** Serial of the leaf certificate nginx serves now, upper-case hex as in the manifest. */
  servedSerial(): Promise<string>;
  /**
   * Waits until nginx serves this serial and only it: a reload is a signal the master
   * handles after `nginx -s reload` has returned, and for a moment the new worker and the
   * old one (still holding the old certificate) both accept connections.
   */
  waitForSerial(serial: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const START_ATTEMPTS = 3;

export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const binary = findNginx();
  if (binary === undefined) {
    throw new Error(
      `nginx not found: npm test installs it (npx tsx scripts/peers.ts install), or install the ` +
        `"${NGINX_PACKAGE}" package yourself, or set CERTKEEPER_NGINX to the binary`,
    );
  }
  const prefix = mkdtempSync(join(tmpdir(), 'certkeeper-nginx-'));
  const wantHttp =
    options.httpPort !== undefined ||
    options.proxyAcmeTo !== undefined ||
    options.httpDirectives !== undefined;
  // A free port can be taken by another test file between the kernel naming it and nginx
  // binding it: start again on new ports then. A fixed httpPort is the caller's to keep free.
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts({ https: 'tcp', http: 'tcp' } as const);
    const httpPort = wantHttp ? options.httpPort || ports.http : undefined;
    try {
      return await startOnce(binary, prefix, options, ports.https, httpPort);
    } catch (err) {
      const inUse = /Address already in use/.test((err as Error).message);
      if (!inUse || attempt >= START_ATTEMPTS || options.httpPort) {
        rmSync(prefix, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

async function startOnce(
  binary: string,
  prefix: string,
  options: NginxOptions,
  httpsPort: number,
  httpPort: number | undefined,
): Promise<Nginx> {
  const conf = join(prefix, 'nginx.conf');
  const pidFile = join(prefix, 'nginx.pid');
  const errorLogPath = join(prefix, 'error.log');
  writeFileSync(conf, nginxConf({ ...options, prefix, pidFile, errorLogPath, httpsPort, httpPort }));
  // -e: the log nginx writes before it has read the config (Debian's default is stderr or
  // /var/log/nginx); -p and -c: nothing is read from /etc/nginx.
  const base = [binary, '-p', prefix, '-c', conf, '-e', errorLogPath];
  const run = async (args: string[], what: string): Promise<void> => {
    const result = await exec(base[0]!, [...base.slice(1), ...args], { timeoutMs: 15_000 });
    if (result.code !== 0) {
      throw new Error(
        `nginx ${what} failed (exit ${result.code}): ${result.stderr.trim()}\n${tail(errorLogPath)}`,
      );
    }
  };
  await run([], 'start'); // daemon on: returns once the master has forked and bound its ports
  const pid = Number.parseInt(readFileSafe(pidFile) ?? '', 10);
  if (!Number.isInteger(pid)) throw new Error(`nginx wrote no pid to ${pidFile}:\n${tail(errorLogPath)}`);

  const quote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;
  const command = base.map(quote).join(' ');
  const servedSerial = (): Promise<string> => leafSerial(httpsPort);
  let stopped = false;
  const nginx: Nginx = {
    prefix,
    httpsPort,
    httpPort,
    reloadCommand: `${command} -s reload`,
    servedSerial,
    async waitForSerial(serial, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const served = await servedSerial().catch((err: Error) => err.message);
        const settled = served === serial && oneWorker(pid);
        if (settled) return;
        if (Date.now() > deadline) {
          const seen = served === serial ? `${serial}, but the old worker still runs` : served;
          throw new Error(
            `nginx serves ${seen}, not ${serial} alone, after ${timeoutMs} ms:\n${tail(errorLogPath)}`,
          );
        }
        await sleep(50);
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // quit = graceful: the master waits for its workers, then removes the pid file.
      await run(['-s', 'quit'], 'quit').catch(() => signal(pid, 'SIGTERM'));
      const deadline = Date.now() + 5_000;
      while (isAlive(pid) && Date.now() < deadline) await sleep(25);
      if (isAlive(pid)) signal(pid, 'SIGKILL');
      rmSync(prefix, { recursive: true, force: true });
    },
  };
  try {
    await waitUntil(
      'nginx accepting TLS',
      async () => void (await servedSerial()),
      10_000,
      () => (isAlive(pid) ? undefined : `nginx exited:\n${tail(errorLogPath)}`),
    );
  } catch (err) {
    await nginx.stop();
    throw err;
  }
  return nginx;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/**
 * The master has exactly one child (worker_processes 1): the old worker of a reload has
 * exited. Where there is no /proc to ask, a served serial has to do.
 */
function oneWorker(masterPid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return true;
  }
  let children = 0;
  for (const entry of entries) {
    const stat = readFileSafe(`/proc/${entry}/stat`);
    // Fields after the command name, which may itself hold spaces and parentheses.
    const ppid = stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
    if (ppid === String(masterPid)) children++;
  }
  return children === 1;
}

/** One TLS handshake with 127.0.0.1:port; the certificate is read, not trusted. */
function leafSerial(port: number): Promise<string> {
  return new Promise((resolveSerial, reject) => {
    // No servername: SNI cannot carry an IP address, and the one server block answers all.
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, timeout: 3_000 });
    socket.once('secureConnect', () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber;
      socket.end();
      if (serial) resolveSerial(serial.toUpperCase());
      else reject(new Error(`no certificate from 127.0.0.1:${port}`));
    });
    socket.once('timeout', () =>
      socket.destroy(new Error(`no TLS handshake with 127.0.0.1:${port} in time`)),
    );
    socket.once('error', reject);
  });
}

function nginxConf(
  c: NginxOptions & {
    prefix: string;
    pidFile: string;
    errorLogPath: string;
    httpsPort: number;
    httpPort: number | undefined;
  },
): string {
  const temp = join(c.prefix, 'temp');
  mkdirSync(temp, { recursive: true });
  const directives = [
    ...(c.proxyAcmeTo === undefined
      ? []
      : [`location /.well-known/acme-challenge/ { proxy_pass http://127.0.0.1:${c.proxyAcmeTo}; }`]),
    ...(c.httpDirectives === undefined ? [] : [c.httpDirectives]),
    'location / { return 404; }',
  ];
  const http =
    c.httpPort === undefined
      ? ''
      : `  server {\n    listen 127.0.0.1:${c.httpPort};\n${directives.map((d) => `    ${d}\n`).join('')}  }\n`;
  // Started as root, nginx would switch its workers to nobody, who cannot use the temp dirs
  // in this root-owned prefix; anyone else runs the workers as themselves anyway.
  const user = process.getuid?.() === 0 ? 'user root root;\n' : '';
  const front = c.tlsAlpnFront;
  const module = front ? nginxStreamModule() : undefined;
  if (front && module === undefined) {
    throw new Error(
      'the nginx stream module is missing: npm test installs libnginx-mod-stream, or set CERTKEEPER_NGINX_STREAM_MODULE',
    );
  }
  const stream = front
    ? nginxTlsAlpnStream({
        listen: `127.0.0.1:${front.port}`,
        agent: `127.0.0.1:${front.agent}`,
        web: `127.0.0.1:${c.httpsPort}`,
      })
    : '';
  const loadModule = module && module !== 'builtin' ? `load_module ${module};\n` : '';
  return `# certkeeper e2e test server (scripts/test-kit/nginx.ts)
${loadModule}${user}worker_processes 1;
daemon on;
pid ${c.pidFile};
error_log ${c.errorLogPath} info;
events { worker_connections 64; }
http {
  access_log ${join(c.prefix, 'access.log')};
  client_body_temp_path ${join(temp, 'body')};
  proxy_temp_path ${join(temp, 'proxy')};
  fastcgi_temp_path ${join(temp, 'fastcgi')};
  uwsgi_temp_path ${join(temp, 'uwsgi')};
  scgi_temp_path ${join(temp, 'scgi')};
  server {
    listen 127.0.0.1:${c.httpsPort} ssl;
    ssl_certificate ${c.certPath};
    ssl_certificate_key ${c.keyPath};
    location / { return 200 "certkeeper e2e\\n"; }
  }
${http}}
${stream}`;
}
