import {
  startTlsAlpn01Responder,
  type TlsAlpn01Responder,
} from '../shared/challenges/tlsalpn01/responder.js';
import { CertkeeperError } from '../shared/model/errors.js';
import { type Log, silentLog } from '../shared/model/log.js';
import type { ObjectStore } from '../shared/store/store.js';
import type { AgentConfig } from './config.js';
import { startResponderOn } from './http01.js';

/**
 * Answers TLS-ALPN-01 validations (RFC 8737) with the validation certificates the issuer
 * stores under challenges/tls-alpn-01/ in the bucket, on `tlsAlpn01Listen`. On a server whose
 * port 443 has a web server, that server's front (nginx `stream` with ssl_preread, HAProxy)
 * routes ALPN acme-tls/1 here and everything else to the web server: see agent/README.md.
 */
export async function startAgentTlsAlpn01(
  config: Pick<AgentConfig, 'tlsAlpn01Listen'>,
  store: ObjectStore,
  log: Log = silentLog,
): Promise<TlsAlpn01Responder> {
  return startResponderOn(
    {
      field: 'tlsAlpn01Listen',
      listen: config.tlsAlpn01Listen,
      unsetFix:
        'set it (e.g. "127.0.0.1:8443" behind nginx, or "0.0.0.0:443") or pass --tls-alpn01-listen to answer TLS-ALPN-01 challenges',
      what: 'TLS-ALPN-01',
      inUse: (listen, err) =>
        new CertkeeperError(
          'validation',
          `tlsAlpn01Listen: ${listen.host}:${listen.port} is already in use, so the TLS-ALPN-01 responder cannot start`,
          {
            retryable: false,
            fix: 'listen on a free port (e.g. "127.0.0.1:8443") and route ALPN acme-tls/1 on port 443 to it (nginx stream + ssl_preread, or HAProxy: see agent/README.md)',
            cause: err,
          },
        ),
    },
    (listen) => startTlsAlpn01Responder({ store, host: listen.host, port: listen.port, log }),
    log,
  );
}
