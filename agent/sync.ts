import { DAY, type Clock } from '../shared/model/clock.js';
import { IntegrityError, ValidationError, asCertkeeperError } from '../shared/model/errors.js';
import type { Log } from '../shared/model/log.js';
import {
  type ParsedCertificate,
  keyMatchesCertificate,
  parseCertificate,
  pemBlocks,
} from '../shared/pki/index.js';
import { type AgentConfig, type CertificateTarget, targetFor } from './config.js';
import { selfSignedCertificate } from './fallback.js';
import { installFiles, readIfExists } from './files.js';
import { RolledBackError, fileSpecs, installCertificate, reload } from './install.js';
import { recordServed } from './served.js';
import type { CertificateSource } from './sources.js';
import type { InstalledCertificateState } from './state.js';
import { sameSerial } from './served.js';
import { verifyBundle } from './verify.js';

/** What one check of one certificate did. */
export type SyncAction = 'installed' | 'unchanged' | 'refused' | 'rolled-back' | 'fallback' | 'error';

export interface CertificateReport {
  name: string;
  /**
   * installed: a new serial verified, was installed and reloaded (and served, with verify).
   * unchanged: the installed serial is current. refused: the bundle failed verification, or
   * is older than the one installed; nothing was touched. rolled-back: installed, but the
   * reload or the served check failed, so the previous files are back. fallback: a
   * self-signed certificate was written this check. error: anything else.
   */
  action: SyncAction;
  serial?: string;
  /** Message and fix, for people; never key material. */
  error?: string;
}

export interface SyncContext {
  config: AgentConfig;
  source: CertificateSource;
  clock: Clock;
  log: Log;
  roots(): Promise<string[]>;
  /** Certificates the operator allowed, for this run, to go back to an older certificate. */
  allowOlder: ReadonlySet<string>;
}

/**
 * One certificate, start to end: returns the report and the certificate's new state. Every
 * failure leaves the installed files as they were (or puts them back), and is a report, not
 * a throw: the other certificates are checked all the same.
 */
export async function checkCertificate(
  ctx: SyncContext,
  name: string,
  previous: InstalledCertificateState | undefined,
): Promise<{ report: CertificateReport; state: InstalledCertificateState }> {
  const entry: InstalledCertificateState = { ...previous };
  const now = ctx.clock.now();
  entry.lastCheck = now.toISOString();
  const target = targetFor(ctx.config, name);
  let report: CertificateReport;
  if (!target) {
    report = {
      name,
      action: 'error',
      error: new ValidationError(
        'certificate',
        `"${name}" is not in ${ctx.config.source}`,
        `add it under "certificates" (configured: ${Object.keys(ctx.config.certificates).join(', ')})`,
      ).describe(),
    };
  } else {
    try {
      report = await update(ctx, target, entry, now);
    } catch (err) {
      const e = asCertkeeperError(err);
      const action =
        e instanceof RolledBackError ? 'rolled-back' : e instanceof IntegrityError ? 'refused' : 'error';
      report = { name, action, error: e.describe() };
      ctx.log.error(`certificate ${name}: ${action}`, { error: report.error });
      if (ctx.config.fallbackSelfSigned) report = await fallbackIfNeeded(ctx, target, entry, now, report);
    }
    await recordServed(ctx, target, entry, report);
  }
  entry.lastError = report.error;
  entry.lastAction = report.action;
  return { report, state: entry };
}

async function update(
  ctx: SyncContext,
  target: CertificateTarget,
  entry: InstalledCertificateState,
  now: Date,
): Promise<CertificateReport> {
  const name = target.name;
  const offer = await ctx.source.offer(name);
  entry.identifiers = [...offer.claimed];
  const onDisk = await installedLeaf(target);
  if (
    !entry.fallback &&
    entry.serial !== undefined &&
    sameSerial(entry.serial, offer.serial) &&
    onDisk !== undefined &&
    sameSerial(onDisk.serialHex, offer.serial)
  ) {
    return { name, action: 'unchanged', serial: offer.serial };
  }
  const files = await ctx.source.files(name, offer);
  // What it must name: the config's, else what a trusted source says (the registry's inbox),
  // else what the manifest claims.
  const identifiers = target.identifiers ?? offer.identifiers ?? offer.claimed;
  const leaf = verifyBundle({ name, serial: offer.serial }, files, {
    identifiers,
    roots: await ctx.roots(),
    now,
  });
  refuseOtherNames(ctx, name, leaf, entry, target.identifiers ?? offer.identifiers);
  refuseOlder(ctx, name, leaf, entry, onDisk);
  await installCertificate(ctx.config, ctx.log, target, files, offer.serial, leaf);
  const replaced = entry.fallback ? 'a self-signed fallback' : entry.serial;
  Object.assign(entry, {
    serial: offer.serial,
    notBefore: leaf.notBefore.toISOString(),
    notAfter: leaf.notAfter.toISOString(),
    installedAt: now.toISOString(),
    installedIdentifiers: target.identifiers || offer.identifiers ? undefined : normalised(identifiers),
    fallback: undefined,
    fallbackNotAfter: undefined,
  });
  ctx.log.info(`certificate ${name}: installed serial ${offer.serial}`, {
    notAfter: leaf.notAfter.toISOString(),
    replaced,
  });
  return { name, action: 'installed', serial: offer.serial };
}

/**
 * In direct mode without identifiers in the config, the manifest is the only word on what a
 * certificate must name, and whoever can write the bucket writes it: so the names of the
 * first install are kept, and a later certificate for other names is refused until the
 * operator says which names are meant.
 */
function refuseOtherNames(
  ctx: SyncContext,
  name: string,
  leaf: ParsedCertificate,
  entry: InstalledCertificateState,
  trusted: readonly string[] | undefined,
): void {
  const pinned = entry.installedIdentifiers;
  if (trusted || !pinned) return;
  const names = normalised([...leaf.dnsNames, ...leaf.ipAddresses]);
  if (names.join(',') === normalised(pinned).join(',')) return;
  throw new IntegrityError(
    `refused serial ${leaf.serialHex} of ${name}: it names ${names.join(', ')}, but the installed certificate named ${pinned.join(', ')}`,
    `if the certificate's names changed on purpose, list them under certificates.${name}.identifiers in ${ctx.config.source}`,
  );
}

const normalised = (names: readonly string[]): string[] =>
  [...new Set(names.map((n) => n.toLowerCase()))].sort();

/**
 * Never back to an older certificate: old serials stay in the bucket for weeks, and one
 * put back (a restored manifest, a writer with bad intent) may be revoked, its key leaked.
 * Older means it starts before the installed one does (notBefore, recorded at install or
 * read from the files on disk). The operator may allow it once, for one certificate.
 */
function refuseOlder(
  ctx: SyncContext,
  name: string,
  leaf: ParsedCertificate,
  entry: InstalledCertificateState,
  onDisk: ParsedCertificate | undefined,
): void {
  const installedFrom = entry.notBefore ? new Date(entry.notBefore) : onDisk?.notBefore;
  if (!installedFrom || leaf.notBefore >= installedFrom || entry.fallback) return;
  if (ctx.allowOlder.has(name)) {
    ctx.log.warn(
      `certificate ${name}: installing an OLDER certificate than the one in place, as asked (--allow-older)`,
      {
        offered: leaf.serialHex,
        installed: entry.serial,
      },
    );
    return;
  }
  throw new IntegrityError(
    `refused serial ${leaf.serialHex} of ${name}: it is older than the installed ${entry.serial ?? onDisk?.serialHex} (valid from ${leaf.notBefore.toISOString()}, the installed one from ${installedFrom.toISOString()})`,
    `the issuer stores a newer certificate at its next renewal; if going back is meant, run once: certkeeper agent --config ${ctx.config.source} --once --allow-older ${name}`,
  );
}

/**
 * Writes a self-signed certificate when the one on disk is missing or expired (or is an
 * earlier fallback with less than a day left), so the service can start at all.
 */
async function fallbackIfNeeded(
  ctx: SyncContext,
  target: CertificateTarget,
  entry: InstalledCertificateState,
  now: Date,
  report: CertificateReport,
): Promise<CertificateReport> {
  let onDisk: ParsedCertificate | undefined;
  try {
    onDisk = await installedLeaf(target);
  } catch {
    // Files that exist but cannot be read (permissions) may be fine: never overwrite them.
    return report;
  }
  const margin = entry.fallback ? DAY : 0;
  if (onDisk && onDisk.notAfter.getTime() - now.getTime() > margin) return report;
  const identifiers = target.identifiers ?? entry.identifiers ?? ['localhost'];
  try {
    const fallback = await selfSignedCertificate(identifiers, now);
    const files = {
      cert: fallback.certPem,
      chain: '',
      fullchain: fallback.certPem,
      privkey: fallback.keyPem,
    };
    await installFiles(await fileSpecs(target, files));
    // It never counts as installed: the next certificate that verifies replaces it.
    Object.assign(entry, {
      serial: undefined,
      notBefore: undefined,
      notAfter: undefined,
      fallback: true,
      fallbackNotAfter: fallback.notAfter.toISOString(),
    });
    ctx.log.warn(
      `!!! certificate ${target.name}: SERVING A SELF-SIGNED FALLBACK CERTIFICATE (valid until ${fallback.notAfter.toISOString()}). ` +
        `Clients will not trust it. The real certificate could not be installed: ${report.error}. ` +
        `Fix that cause; the agent replaces the fallback as soon as a certificate from the bucket verifies.`,
      { certificate: target.name, identifiers, fullchain: target.fullchain },
    );
    await reload(ctx.config, target.name, fallback.serial).catch((err: unknown) =>
      ctx.log.error(`certificate ${target.name}: reload after writing the fallback failed`, {
        error: asCertkeeperError(err).describe(),
      }),
    );
    return { name: target.name, action: 'fallback', error: report.error };
  } catch (err) {
    ctx.log.error(`certificate ${target.name}: could not write the self-signed fallback`, {
      error: asCertkeeperError(err).describe(),
    });
    return report;
  }
}

/**
 * The certificate the service would load now: the fullchain's leaf, if the key file next to
 * it belongs to it. Missing, unreadable or mismatched files count as nothing installed.
 */
export async function installedLeaf(target: CertificateTarget): Promise<ParsedCertificate | undefined> {
  const [fullchain, key] = await Promise.all([readIfExists(target.fullchain), readIfExists(target.key)]);
  const leaf = fullchain === undefined ? undefined : pemBlocks(fullchain, 'CERTIFICATE')[0];
  if (leaf === undefined || key === undefined || !keyMatchesCertificate(key, leaf)) return undefined;
  try {
    return parseCertificate(leaf);
  } catch {
    return undefined;
  }
}
