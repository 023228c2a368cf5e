/**
 * The configuration that lets one port 443 carry both the web server and TLS-ALPN-01: the
 * front reads the ClientHello without terminating TLS and sends connections that offer ALPN
 * `acme-tls/1` (RFC 8737 §6.2: a CA's validation offers it alone) to the agent's responder,
 * and everything else to the web server, which then listens on another address. One
 * rendering serves the README (a test checks it is there verbatim) and the end-to-end tests,
 * so what is documented is what was tested.
 */
export interface TlsAlpnRoute {
  /** What the front listens on: "443" in production. */
  listen: string;
  /** The agent's tlsAlpn01Listen, e.g. "127.0.0.1:8443". */
  agent: string;
  /** Where the web server's TLS listener moved, e.g. "127.0.0.1:8444". */
  web: string;
}

/** nginx: a top-level `stream` block (needs the stream module: Debian's libnginx-mod-stream). */
export function nginxTlsAlpnStream(route: TlsAlpnRoute): string {
  return `stream {
    # TLS-ALPN-01 validations offer ALPN acme-tls/1 (RFC 8737): to the certkeeper agent.
    map $ssl_preread_alpn_protocols $certkeeper_tls_upstream {
        ~\\bacme-tls/1\\b  ${route.agent};
        default          ${route.web};
    }
    server {
        listen ${route.listen};
        ssl_preread on;
        proxy_pass $certkeeper_tls_upstream;
    }
}
`;
}

/** HAProxy: a TCP frontend and two backends. */
export function haproxyTlsAlpn(route: TlsAlpnRoute): string {
  return `frontend tls_in
    mode tcp
    bind ${route.listen.includes(':') ? route.listen : `:${route.listen}`}
    # Wait for the ClientHello, then route on its ALPN (RFC 8737: acme-tls/1 to the agent).
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    use_backend certkeeper_tls_alpn if { req.ssl_alpn acme-tls/1 }
    default_backend web_tls

backend certkeeper_tls_alpn
    mode tcp
    server agent ${route.agent}

backend web_tls
    mode tcp
    server web ${route.web}
`;
}

/** The addresses the README shows. */
export const DOCUMENTED_ROUTE: TlsAlpnRoute = {
  listen: '443',
  agent: '127.0.0.1:8443',
  web: '127.0.0.1:8444',
};
