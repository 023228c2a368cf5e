import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect } from 'node:tls';

/** What a TLS endpoint presented: the leaf's serial, expiry and names. */
export interface ServedCertificate {
  /** Upper-case hex, as Node prints it. */
  serial: string;
  notAfter: string;
  /** DNS names and IP addresses from the subjectAltName. */
  names: string[];
}

/**
 * Why a probe read no certificate: the port refused the connection, nothing answered in
 * time, or the TLS handshake failed (including a server with no certificate at all).
 */
export type ProbeFailureKind = 'closed' | 'timeout' | 'tls';

export class ProbeError extends Error {
  constructor(
    readonly kind: ProbeFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'ProbeError';
  }
}

export interface ProbeTarget {
  host: string;
  port: number;
  /** Server name to send; never an IP (RFC 6066 §3). */
  sni?: string;
}

/**
 * Connects with TLS and reads the served leaf. It trusts nothing it reads
 * (rejectUnauthorized false): it reports what is served, and the caller compares serials;
 * whether a chain is trusted is the CA's and the agent's business, not the probe's.
 */
export function readServedCertificate(target: ProbeTarget, timeoutMs: number): Promise<ServedCertificate> {
  return new Promise((resolve, reject) => {
    const where = `${target.host}:${target.port}`;
    const socket = connect({
      host: target.host,
      port: target.port,
      // As curl and browsers: the host name unless told otherwise (name-based virtual hosts, CDNs).
      servername: isIP(target.sni ?? target.host) === 0 ? (target.sni ?? target.host) : undefined,
      rejectUnauthorized: false,
    });
    let settled = false;
    const fail = (err: ProbeError): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(timeoutMs, () =>
      fail(new ProbeError('timeout', `${where}: no TLS handshake within ${timeoutMs} ms`)),
    );
    socket.once('secureConnect', () => {
      const raw = socket.getPeerX509Certificate();
      socket.end();
      if (!raw) return fail(new ProbeError('tls', `${where} presented no certificate`));
      settled = true;
      resolve(describe(raw));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const kind: ProbeFailureKind =
        err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH'
          ? 'closed'
          : err.code === 'ETIMEDOUT'
            ? 'timeout'
            : 'tls';
      const what =
        kind === 'closed'
          ? 'connection refused (nothing listens on that port?)'
          : `TLS failed: ${err.message}`;
      fail(new ProbeError(kind, `${where}: ${what}`));
    });
  });
}

function describe(cert: X509Certificate): ServedCertificate {
  const names = (cert.subjectAltName ?? '')
    .split(', ')
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
    // Node prints IPv6 SANs uncompressed in upper case; identifiers are RFC 5952 (as URL writes them).
    .map((name) => (isIP(name) === 6 ? new URL(`http://[${name}]/`).hostname.slice(1, -1) : name))
    .filter((n) => n.length > 0);
  return {
    serial: cert.serialNumber.toUpperCase(),
    notAfter: new Date(cert.validTo).toISOString(),
    names,
  };
}

/** Serials compare as numbers: one side may carry a leading zero byte the other dropped. */
export const sameSerial = (a: string, b: string): boolean =>
  a.replace(/^0+/, '').toUpperCase() === b.replace(/^0+/, '').toUpperCase();
