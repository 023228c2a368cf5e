import type { BundleFiles } from '../shared/agents/envelope.js';
import { CertkeeperError, asCertkeeperError } from '../shared/model/errors.js';
import type { Log } from '../shared/model/log.js';
import type { ParsedCertificate } from '../shared/pki/index.js';
import { type AgentConfig, type CertificateTarget, KEY_MODE } from './config.js';
import {
  type FileSpec,
  type Installed,
  PREVIOUS_SUFFIX,
  installFiles,
  resolveId,
  restoreFiles,
} from './files.js';
import { runCommands } from './reload.js';
import { waitUntilServed } from './served.js';

/**
 * One install: the files written atomically, the service reloaded, and (with `verify`) the
 * new serial seen on the wire; any failure after the write puts the previous files back and
 * reloads them, so the server never stays on a half-applied change.
 */

/** Installed, but the reload or the served check failed and the previous files are back. */
export class RolledBackError extends CertkeeperError {
  constructor(cause: CertkeeperError) {
    super(cause.code, `rolled back to the previous files: ${cause.message}`, {
      retryable: true,
      fix: cause.fix,
      cause,
    });
  }
}

export async function installCertificate(
  config: AgentConfig,
  log: Log,
  target: CertificateTarget,
  files: BundleFiles,
  serial: string,
  leaf: ParsedCertificate,
): Promise<void> {
  const installed = await installFiles(await fileSpecs(target, files));
  try {
    await reload(config, target.name, serial);
    const verify = target.verify ?? config.verify;
    if (verify) {
      // Without an explicit SNI, ask for the certificate's own first DNS name.
      const sni = verify.sni ?? leaf.dnsNames.find((n) => !n.startsWith('*.'));
      await waitUntilServed({ ...verify, sni }, serial);
    }
  } catch (err) {
    await rollBack(config, log, target.name, installed, asCertkeeperError(err));
  }
}

async function rollBack(
  config: AgentConfig,
  log: Log,
  name: string,
  installed: Installed,
  cause: CertkeeperError,
): Promise<never> {
  try {
    await restoreFiles(installed);
  } catch (err) {
    throw new CertkeeperError(
      'internal',
      `${cause.message}; putting the previous files back failed too: ${asCertkeeperError(err).message}`,
      {
        fix: `restore the files from their ${PREVIOUS_SUFFIX} copies by hand, then reload the service`,
        cause,
      },
    );
  }
  await reload(config, name, 'previous').catch((err: unknown) =>
    log.error(`certificate ${name}: reload after the rollback failed`, {
      error: asCertkeeperError(err).describe(),
    }),
  );
  throw new RolledBackError(cause);
}

/** Runs the reload commands with the certificate's name and serial in the environment (never in the command line). */
export async function reload(config: AgentConfig, name: string, serial: string): Promise<void> {
  const commands = config.reload;
  if (!commands) return;
  await runCommands(commands.commands, commands.timeoutSeconds * 1000, {
    CERTKEEPER_CERTIFICATE: name,
    CERTKEEPER_SERIAL: serial,
  });
}

/** The target's files: certificates with the target's mode and owner, the key always 0600. */
export async function fileSpecs(target: CertificateTarget, files: BundleFiles): Promise<FileSpec[]> {
  const field = `certificates.${target.name}`;
  const uid =
    target.owner === undefined ? undefined : await resolveId('owner', target.owner, `${field}.owner`);
  const gid =
    target.group === undefined ? undefined : await resolveId('group', target.group, `${field}.group`);
  const cert = (path: string, content: string): FileSpec => ({ path, content, mode: target.mode, uid, gid });
  return [
    cert(target.fullchain, files.fullchain),
    ...(target.cert ? [cert(target.cert, files.cert)] : []),
    ...(target.chain ? [cert(target.chain, files.chain)] : []),
    { path: target.key, content: files.privkey, mode: KEY_MODE, uid, gid },
  ];
}
