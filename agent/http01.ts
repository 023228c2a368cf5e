import { type Http01Responder, startHttp01Responder } from '../shared/challenges/http01/responder.js';
import type { ListeningResponder } from '../shared/challenges/listen.js';
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
  return startResponderOn(
    {
      field: 'http01Listen',
      listen: config.http01Listen,
      unsetFix: 'set it (e.g. "0.0.0.0:80") or pass --http01-listen to answer HTTP-01 challenges',
      what: 'HTTP-01',
      inUse: (listen, err) => new AddressInUseError(listen.host, listen.port, err),
    },
    (listen) => startHttp01Responder({ store, host: listen.host, port: listen.port, log }),
    log,
  );
}

interface ResponderPlace {
  /** The config field that gives the address (errors name it). */
  field: string;
  listen: { host: string; port: number } | undefined;
  unsetFix: string;
  /** "HTTP-01", for the log line. */
  what: string;
  /** The error for an address another process holds: how to run behind it. */
  inUse(listen: { host: string; port: number }, err: unknown): CertkeeperError;
}

/**
 * Starts a challenge responder on the configured address: unset, taken (EADDRINUSE) and
 * forbidden (EACCES) each become an error naming the field and the fix.
 */
export async function startResponderOn<R extends ListeningResponder>(
  place: ResponderPlace,
  start: (listen: { host: string; port: number }) => Promise<R>,
  log: Log,
): Promise<R> {
  const { field, listen } = place;
  if (!listen) throw new ValidationError(field, 'is not set', place.unsetFix);
  try {
    const responder = await start(listen);
    log.info(`${place.what} responder listening`, {
      address: `${responder.address.host}:${responder.address.port}`,
    });
    return responder;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw place.inUse(listen, err);
    throw permissionError(field, listen, err) ?? err;
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
