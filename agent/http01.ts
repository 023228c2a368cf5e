import { type Http01Responder, startHttp01Responder } from '../shared/challenges/http01/responder.js';
import { CertkeeperError, ValidationError } from '../shared/model/errors.js';
import { type Log, silentLog } from '../shared/model/log.js';
import type { ObjectStore } from '../shared/store/store.js';
import type { AgentConfig } from './config.js';

/** Where we suggest running the responder when port 80 already has a web server. */
export const SUGGESTED_PROXY_PORT = 8402;

/** The port is taken; the message says how to run behind the server that has it. */
export class AddressInUseError extends CertkeeperError {
  constructor(
    readonly host: string,
    readonly port: number,
    cause: unknown,
  ) {
    const other = port === SUGGESTED_PROXY_PORT ? SUGGESTED_PROXY_PORT + 1 : SUGGESTED_PROXY_PORT;
    super(
      'validation',
      [
        `http01Listen: ${host}:${port} is already in use (another web server, or a second agent?), so the HTTP-01 responder cannot start.`,
        `Run the agent on another port and let the server on port ${port} forward the challenge path to it:`,
        `  agent config: "http01Listen": "127.0.0.1:${other}"   (or --http01-listen 127.0.0.1:${other})`,
        `  nginx (in the server block for port 80):`,
        `    location /.well-known/acme-challenge/ { proxy_pass http://127.0.0.1:${other}; }`,
        `  Caddy (in the site block for http://):`,
        `    handle /.well-known/acme-challenge/* { reverse_proxy 127.0.0.1:${other} }`,
      ].join('\n'),
      {
        retryable: false,
        fix: `set http01Listen to 127.0.0.1:${other} and add one of the snippets above to the server on port ${port}, or stop what holds the port`,
        cause,
      },
    );
  }
}

/**
 * Serves `/.well-known/acme-challenge/<token>` from `challenges/http-01/<token>` in the
 * bucket (the issuer writes the token there; the CA fetches it from this server), and 404
 * for every other path. Needs `http01Listen`.
 */
export async function startAgentHttp01(
  config: Pick<AgentConfig, 'http01Listen'>,
  store: ObjectStore,
  log: Log = silentLog,
): Promise<Http01Responder> {
  const listen = config.http01Listen;
  if (!listen) {
    throw new ValidationError(
      'http01Listen',
      'is not set',
      'set it (e.g. "0.0.0.0:80") or pass --http01-listen to answer HTTP-01 challenges',
    );
  }
  try {
    const responder = await startHttp01Responder({ store, host: listen.host, port: listen.port, log });
    log.info('HTTP-01 responder listening', {
      address: `${responder.address.host}:${responder.address.port}`,
    });
    return responder;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new AddressInUseError(listen.host, listen.port, err);
    }
    throw permissionError('http01Listen', listen, err) ?? err;
  }
}

/** A port below 1024 without the right to bind it: say how to get it. */
export function permissionError(
  field: string,
  listen: { host: string; port: number },
  err: unknown,
): CertkeeperError | undefined {
  if ((err as NodeJS.ErrnoException).code !== 'EACCES') return undefined;
  return new CertkeeperError('validation', `${field}: may not listen on ${listen.host}:${listen.port}`, {
    fix: 'ports below 1024 need CAP_NET_BIND_SERVICE (AmbientCapabilities= in the systemd unit) or root',
    cause: err,
  });
}
