import { readServedCertificate, sameSerial } from '../shared/fleet/probe.js';
import type { Clock } from '../shared/model/clock.js';
import { CertkeeperError } from '../shared/model/errors.js';
import type { Log } from '../shared/model/log.js';
import type { AgentConfig, CertificateTarget } from './config.js';
import type { InstalledCertificateState } from './state.js';

export interface ServedCheck {
  host: string;
  port: number;
  /** Server name to send; none for an IP (RFC 6066 §3 forbids IP addresses in SNI). */
  sni: string | undefined;
  timeoutSeconds: number;
}

/** Short enough that a reload is seen promptly, long enough not to hammer the server. */
const RETRY_MS = 250;

/**
 * Waits until the server presents the certificate with `serial`: a reload is asynchronous
 * (nginx's old workers serve the old certificate for a moment), so "reload exited 0" is not
 * proof. The check trusts nothing it reads (rejectUnauthorized false): it only compares the
 * serial, and the chain was verified before install.
 */
export async function waitUntilServed(check: ServedCheck, serial: string): Promise<void> {
  const deadline = Date.now() + check.timeoutSeconds * 1000;
  let seen = 'nothing';
  for (;;) {
    const left = deadline - Date.now();
    try {
      const served = await servedSerial(check, Math.max(100, Math.min(left, 5000)));
      if (sameSerial(served, serial)) return;
      seen = `serial ${served}`;
    } catch (err) {
      seen = `an error (${(err as Error).message})`;
    }
    if (Date.now() + RETRY_MS >= deadline) break;
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
  throw new CertkeeperError(
    'internal',
    `${check.host}:${check.port}${check.sni ? ` (SNI ${check.sni})` : ''} did not serve serial ${serial} within ${check.timeoutSeconds} s: last saw ${seen}`,
    {
      retryable: true,
      fix: 'check that the reload commands make the server load the installed files (paths in its config), and that verify.host/port/sni name that server',
    },
  );
}

/** The serial of the certificate the server presents, as upper-case hex. */
export async function servedSerial(
  check: Omit<ServedCheck, 'timeoutSeconds'>,
  timeoutMs: number,
): Promise<string> {
  return (await readServedCertificate(check, timeoutMs)).serial;
}

export { sameSerial };

/**
 * With `verify`, what the server presents after this check, for the fleet report: the one
 * thing the fleet view cannot see from the bucket. A failed read is recorded as no served
 * serial; the reload path has its own, patient check.
 */
export async function recordServed(
  ctx: { config: AgentConfig; clock: Clock; log: Log },
  target: CertificateTarget,
  entry: InstalledCertificateState,
  report: { action: string; serial?: string },
): Promise<void> {
  const verify = target.verify ?? ctx.config.verify;
  if (!verify || !ctx.config.name) return;
  if (report.action === 'installed') {
    // waitUntilServed just saw it: a second handshake could still meet a draining old
    // worker (nginx's reload is graceful) and report the old serial.
    Object.assign(entry, {
      servedSerial: report.serial,
      servedNotAfter: entry.notAfter,
      servedCheckedAt: ctx.clock.now().toISOString(),
    });
    return;
  }
  const sni = verify.sni ?? entry.identifiers?.find((n) => !n.startsWith('*.') && !/^[0-9.:]+$/.test(n));
  entry.servedCheckedAt = ctx.clock.now().toISOString();
  try {
    const served = await readServedCertificate(
      { host: verify.host, port: verify.port, sni },
      Math.min(5000, verify.timeoutSeconds * 1000),
    );
    entry.servedSerial = served.serial;
    entry.servedNotAfter = served.notAfter;
  } catch (err) {
    entry.servedSerial = undefined;
    entry.servedNotAfter = undefined;
    ctx.log.warn(`certificate ${target.name}: could not read what ${verify.host}:${verify.port} serves`, {
      error: (err as Error).message,
    });
  }
}
