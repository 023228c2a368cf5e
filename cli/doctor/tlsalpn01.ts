import { randomBytes, type X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import type { Challenge, ChallengeSolver } from '../../shared/challenges/solver.js';
import type { Identifier } from '../../shared/model/identifiers.js';
import type { CertificateSpec } from '../../shared/model/spec.js';
import { parseCertificate } from '../../shared/pki/certificate.js';
import { ipBytes } from '../../shared/pki/der.js';
import { ACME_TLS_ALPN, acmeIdentifierValue, readAcmeIdentifier, sniFor } from '../../shared/pki/tls-alpn.js';
import type { ObjectStore } from '../../shared/store/store.js';
import { tlsAlpn01Key } from '../../shared/store/layout.js';
import type { CheckSpec } from './check.js';

/** RFC 8737 §3: the CA connects to port 443. */
export const DEFAULT_TLS_ALPN01_PORT = 443;

export interface TlsAlpn01CheckOptions {
  /** The issuer's solver for the spec: it writes the probe as it writes a real order's. */
  solver: ChallengeSolver;
  /** The same bucket, read before presenting so a validation in progress is left alone. */
  objects: ObjectStore;
  /** Named in the fix: the responder must read the bucket the issuer writes to. */
  bucket: string;
  port: number;
  timeoutMs: number;
}

/** What kind of breakage a probe found; each kind has its own fix. */
type ProblemKind = 'unreachable' | 'unresolved' | 'not-responder' | 'not-served';

interface Problem {
  kind: ProblemKind;
  text: string;
}

/**
 * Whether a tls-alpn-01 certificate's names answer what the issuer stores: a validation
 * certificate for a probe key authorization is presented through the issuer's own solver
 * (an object under challenges/tls-alpn-01/ in the bucket), each name is asked for it the way
 * the CA asks (RFC 8737 §3: TLS to port 443, ALPN acme-tls/1 alone, the name or its
 * reverse-DNS name as SNI, the self-signed chain not verified), what comes back is checked as
 * the CA checks it, and the probe is removed again in any case. This catches: no responder,
 * a web server holding port 443 without routing acme-tls/1, a responder reading another bucket.
 */
export function tlsAlpn01Check(spec: CertificateSpec, options: TlsAlpn01CheckOptions): CheckSpec {
  const { solver, objects, port, timeoutMs } = options;
  const names = spec.identifiers.map((i) => i.value).join(', ');
  return {
    id: `tls-alpn-01:${spec.name}`,
    timeoutFix: `check that port ${port} on ${names} is reachable from here`,
    async run() {
      const started = Date.now();
      // A fresh base64url token (RFC 8555 §8.3) per run, and a key authorization no order has.
      const token = randomBytes(32).toString('base64url');
      const value = `${token}.certkeeper-doctor-probe`;
      // The material is keyed by SNI name, not by token: a probe written now would replace
      // the validation certificate of an order the CA may be validating. Those names wait.
      const busy: Identifier[] = [];
      const probed: Identifier[] = [];
      for (const identifier of spec.identifiers) {
        const stored = await objects.get(tlsAlpn01Key(sniFor(identifier)));
        (stored === undefined ? probed : busy).push(identifier);
      }
      const challenges: Challenge[] = probed.map((identifier) => ({
        type: 'tls-alpn-01',
        identifier,
        token,
        value,
      }));
      const problems: Problem[] = [];
      try {
        await solver.present(challenges);
        // What is left of the check's deadline, less a margin to clean up in: a host that
        // hangs is then named in the message instead of the check's bare timeout.
        const budget = Math.max(250, timeoutMs - (Date.now() - started) - 1_000);
        const found = await Promise.all(probed.map((identifier) => probe(identifier, port, value, budget)));
        problems.push(...found.filter((p): p is Problem => p !== undefined));
      } finally {
        // Always: a probe left behind would be served to anyone asking for the name, and the
        // next run would take it for a validation in progress.
        await solver.cleanup(challenges);
      }
      const waiting = busy.length
        ? `not probed: ${busy.map((i) => i.value).join(', ')} (${busy.map((i) => tlsAlpn01Key(sniFor(i))).join(', ')} exists: an order is being validated, or one left it behind)`
        : undefined;
      if (problems.length) {
        return {
          status: 'fail',
          message: `certificate ${spec.name}: ${[...problems.map((p) => p.text), ...(waiting ? [waiting] : [])].join('; ')}`,
          fix: fixFor(new Set(problems.map((p) => p.kind)), port, options.bucket),
        };
      }
      if (waiting) {
        return {
          status: 'warn',
          message: `certificate ${spec.name}: ${probed.length ? `a probe is answered on port ${port} of ${probed.map((i) => i.value).join(', ')}; ` : ''}${waiting}`,
          fix: 'run doctor again once the order is done; if no order is running, delete the object (the issuer writes it again when it needs it)',
        };
      }
      return {
        status: 'ok',
        message: `certificate ${spec.name}: a probe validation certificate is answered with ALPN ${ACME_TLS_ALPN} on port ${port} of ${names}`,
      };
    },
  };
}

function fixFor(kinds: ReadonlySet<ProblemKind>, port: number, bucket: string): string {
  const fixes: string[] = [];
  if (kinds.has('unresolved')) fixes.push('give the names DNS records (A/AAAA) that point at the server');
  if (kinds.has('unreachable')) {
    fixes.push(
      `run the agent's tls-alpn-01 responder on port ${port} ("tlsAlpn01Listen": "0.0.0.0:${port}" in its config, or certkeeper agent --tls-alpn01-listen 0.0.0.0:${port}) and open the port to the CA`,
    );
  }
  if (kinds.has('not-responder')) {
    fixes.push(
      `port ${port} is held by a TLS server that does not answer ${ACME_TLS_ALPN}: put a front before it that sends ALPN ${ACME_TLS_ALPN} to the agent's responder (tlsAlpn01Listen) and the rest to the web server (nginx stream with ssl_preread, or HAProxy; agent/README.md, "TLS-ALPN-01 on the HTTPS port")`,
    );
  }
  if (kinds.has('not-served')) {
    fixes.push(
      `make sure what answers ${ACME_TLS_ALPN} there is the certkeeper agent's responder reading bucket ${bucket} (the agent config's "bucket")`,
    );
  }
  return fixes.join('; ');
}

/** Undefined when the name answered the probe as a CA needs; else what went wrong. */
async function probe(
  identifier: Identifier,
  port: number,
  keyAuthorization: string,
  timeoutMs: number,
): Promise<Problem | undefined> {
  const sni = sniFor(identifier);
  const host = identifier.value;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}${sni === host ? '' : ` (SNI ${sni})`}`;
  const outcome = await handshake(host, port, sni, timeoutMs);
  switch (outcome.kind) {
    case 'timeout':
      return {
        kind: 'unreachable',
        text: `${where} did not complete a TLS handshake within ${(timeoutMs / 1000).toFixed(1)} s`,
      };
    case 'closed':
      return {
        kind: 'not-served',
        text: `${where} closed the connection during the TLS handshake (${outcome.detail}): nothing there serves this probe's validation certificate`,
      };
    case 'error':
      return classify(where, outcome.code, outcome.message);
    case 'done': {
      if (outcome.alpn !== ACME_TLS_ALPN) {
        const cert = outcome.cert ? ` and its own certificate (${sanText(outcome.cert)})` : '';
        return {
          kind: 'not-responder',
          text: `${where} answered TLS without negotiating ALPN ${ACME_TLS_ALPN}${cert}: that is not a tls-alpn-01 responder`,
        };
      }
      if (!outcome.cert) return { kind: 'not-served', text: `${where} sent no certificate` };
      const wrong = validationProblem(outcome.cert, identifier, keyAuthorization);
      return wrong ? { kind: 'not-served', text: `${where} ${wrong}` } : undefined;
    }
  }
}

function classify(where: string, code: string | undefined, message: string): Problem {
  if (code === 'ECONNREFUSED')
    return {
      kind: 'unreachable',
      text: `${where} refused the connection (ECONNREFUSED: nothing listens there, or a firewall rejects it)`,
    };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return { kind: 'unresolved', text: `${where}: the name does not resolve (${code})` };
  }
  if (code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
    return {
      kind: 'not-responder',
      text: `${where} refused ALPN ${ACME_TLS_ALPN} (no_application_protocol alert): that is not a tls-alpn-01 responder`,
    };
  }
  if (code === 'ECONNRESET') {
    return {
      kind: 'not-served',
      text: `${where} reset the connection during the TLS handshake: nothing there serves this probe's validation certificate`,
    };
  }
  if (code && /^ERR_SSL_/.test(code)) {
    return { kind: 'not-served', text: `${where} failed the TLS handshake (${message})` };
  }
  return { kind: 'unreachable', text: `${where} could not be reached (${code ?? message})` };
}

type Handshake =
  | { kind: 'done'; alpn: string | false; cert: X509Certificate | undefined }
  | { kind: 'timeout' }
  | { kind: 'closed'; detail: string }
  | { kind: 'error'; code: string | undefined; message: string };

/** One TLS handshake as a tls-alpn-01 validator makes it (RFC 8737 §3), then the connection is dropped. */
function handshake(host: string, port: number, servername: string, timeoutMs: number): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = connect({
      host,
      port,
      servername,
      ALPNProtocols: [ACME_TLS_ALPN],
      // The validation certificate is self-signed by design: it is checked below, not chained.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      timeout: timeoutMs,
    });
    const settle = (result: Handshake): void => {
      socket.destroy();
      resolve(result);
    };
    socket.once('secureConnect', () =>
      settle({ kind: 'done', alpn: socket.alpnProtocol ?? false, cert: socket.getPeerX509Certificate() }),
    );
    socket.once('timeout', () => settle({ kind: 'timeout' }));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      // Node's words for a peer that hung up before the handshake ended carry no code of their own.
      if (/before secure TLS connection was established/.test(err.message)) {
        settle({ kind: 'closed', detail: err.code ?? err.message });
      } else settle({ kind: 'error', code: err.code, message: err.message });
    });
    socket.once('close', () => settle({ kind: 'closed', detail: 'closed' }));
  });
}

/**
 * What a CA would reject in a validation certificate (RFC 8737 §3), or undefined when it
 * would accept it for this identifier and key authorization: the identifier, exactly and
 * alone, in the subjectAltName, and the critical acmeIdentifier extension holding the
 * SHA-256 digest of the key authorization. Pure: the connection is made elsewhere.
 */
export function validationProblem(
  cert: X509Certificate,
  identifier: Identifier,
  keyAuthorization: string,
): string | undefined {
  let san: { dnsNames: string[]; ipAddresses: string[] };
  let extension: ReturnType<typeof readAcmeIdentifier>;
  try {
    san = parseCertificate(cert.toString());
    extension = readAcmeIdentifier(cert.raw);
  } catch (err) {
    return `sent a certificate that cannot be parsed (${err instanceof Error ? err.message : String(err)})`;
  }
  if (!sanIsExactly(san, identifier)) {
    return `sent a certificate for ${sanText(cert)}, not for ${identifier.value} alone`;
  }
  if (!extension) return 'sent a certificate without the acmeIdentifier extension (1.3.6.1.5.5.7.1.31)';
  if (!extension.critical) return 'sent a certificate whose acmeIdentifier extension is not critical';
  if (!extension.value.equals(acmeIdentifierValue(keyAuthorization))) {
    return "sent a validation certificate for another key authorization, not this probe's (a responder reading another bucket, or a stale certificate)";
  }
  return undefined;
}

function sanIsExactly(san: { dnsNames: string[]; ipAddresses: string[] }, identifier: Identifier): boolean {
  if (san.dnsNames.length + san.ipAddresses.length !== 1) return false;
  if (identifier.type === 'dns') return san.dnsNames[0]?.toLowerCase() === identifier.value.toLowerCase();
  const ip = san.ipAddresses[0];
  if (ip === undefined) return false;
  try {
    return ipBytes(ip).equals(ipBytes(identifier.value));
  } catch {
    return false;
  }
}

function sanText(cert: X509Certificate): string {
  return cert.subjectAltName
    ? `subjectAltName ${cert.subjectAltName}`
    : `no subjectAltName, subject ${cert.subject || 'empty'}`;
}
