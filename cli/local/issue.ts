/**
 * `certkeeper issue`: one certificate, now, on this machine, into DIR (see composition/local.ts for
 * the layout). Every flag is checked (issue-flags.ts), and the CA asked whether it offers
 * the profile, before anything is written, so a usage error leaves DIR as it was.
 */
import { checkProfile } from '../../shared/acme/index.js';
import type { Authority } from '../../shared/authorities/authorities.js';
import { asCertkeeperError, type CertkeeperError, ValidationError } from '../../shared/model/errors.js';
import { identifierValues } from '../../shared/model/identifiers.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { renewCertificate } from '../../shared/usecases/renew-certificate.js';
import { createOutput, EXIT, type Output } from '../output.js';
import { http01PortFix } from './listen-flags.js';
import { updateLiveLinks } from './live.js';
import { reporterFor, say, sayError } from './reporter.js';
import { challengeOf, type LocalSettings, writeSettings } from './settings.js';
import { runShell } from './shell.js';
import { composeLocal, openLocalDir } from '../../composition/local.js';
import { certifyCsr } from './csr.js';
import { checkIssueFlags, type IssueRequest, type LocalIssueOptions } from './issue-flags.js';
import { webrootFix } from '../../shared/challenges/http01/webroot.js';

export async function runLocalIssue(options: LocalIssueOptions): Promise<number> {
  const out = createOutput({ json: options.json });
  let checked: IssueRequest;
  try {
    checked = await checkIssueFlags(options);
  } catch (err) {
    return fail(err);
  }
  const { name, settings } = checked;
  if (checked.profileNote) say(out, `note: ${checked.profileNote}`);

  const dir = openLocalDir(options.out);
  const reporter = reporterFor(out);
  // Without a pre-hook, a post-hook still runs after the order (nothing to undo, but a
  // service may want the reload).
  let hooked = !options.preHook;
  const composed = composeLocal(dir, {
    settings,
    caPem: checked.caPem,
    reporter,
    name,
  });
  try {
    // Still nothing written: a CA that is down (exit 3) or lacks the profile (exit 2) stops
    // here, unless a fallback CA answers (the renewal then moves to it by itself).
    await checkCas(composed.deps.authorities, checked.profile);
    if (options.preHook) {
      hooked = true;
      const code = await runShell(options.preHook);
      if (code !== 0) {
        sayError(`${name}: the pre-hook failed (exit ${code}): nothing ordered`);
        return EXIT.attention;
      }
    }
    // Bind the port up front too: a taken port is a usage problem, not a failed issuance.
    await composed.listen();

    if (checked.csr) {
      try {
        const result = await certifyCsr(composed, dir.root, {
          name,
          csrPath: checked.csr.path,
          csrPem: checked.csr.pem,
          identifiers: identifierValues(checked.identifiers),
          challenge: challengeOf(settings),
          profile: checked.profile,
        });
        printIssued(out, result);
        say(
          out,
          `${name}: not renewed by renew --out (the key is yours): run issue --csr again with a new key's request`,
        );
        return EXIT.ok;
      } catch (err) {
        const error = asCertkeeperError(err);
        if (error.code === 'validation') throw error;
        return reportFailure(name, error, settings);
      }
    }

    const before = await dir.inventory.get(name);
    const identifiers = identifierValues(checked.identifiers);
    await declareCertificate(dir.inventory, {
      name,
      identifiers,
      challenge: challengeOf(settings),
      ...(checked.profile ? { profile: checked.profile } : {}),
      ...(checked.keyType ? { keyType: checked.keyType } : {}),
    });
    // Provisioning scripts run `issue` again and again: a certificate that is still valid for
    // the same identifiers is only renewed when it is due (the renewal policy decides), so a
    // re-run orders nothing. --force, a first issue, a failed or expired one, or other
    // identifiers order now, like `lego run`.
    const current = before?.state.current;
    const keep =
      !options.force &&
      current !== undefined &&
      new Date(current.notAfter) > composed.deps.clock.now() &&
      sameSet(identifierValues(before!.spec.identifiers), identifiers) &&
      before!.spec.profile === checked.profile &&
      (checked.keyType === undefined || before!.spec.keyType === checked.keyType);
    const outcome = await renewCertificate(composed.deps, name, { force: !keep });
    // Settings are what `renew --out` reuses: only an issue that worked may write them.
    if (outcome.status === 'issued' || outcome.status === 'renewed') await writeSettings(dir, name, settings);
    if (outcome.status === 'busy') {
      sayError(`${name}: another certkeeper process holds the lock on it; try again when it is done`);
      return EXIT.attention;
    }
    if (outcome.status === 'failed') return reportFailure(name, outcome.error, settings);
    if (outcome.status === 'not-due') {
      say(
        out,
        `${name}: the current certificate is valid until ${current!.notAfter} and not due for renewal: nothing ordered (--force orders a new one)`,
      );
    }
    const files = await updateLiveLinks(dir, options.out, name);
    const manifest = (await dir.store.getManifest(name))!;
    const result = {
      name,
      ordered: outcome.status !== 'not-due',
      ...(manifest.ca ? { ca: manifest.ca } : {}),
      identifiers: manifest.identifiers,
      profile: manifest.profile ?? null,
      serial: manifest.serial,
      notBefore: manifest.notBefore,
      notAfter: manifest.notAfter,
      files,
      manifest: `${dir.root}/certificates/${name}/current.json`,
    };
    printIssued(out, result);
    return EXIT.ok;
  } catch (err) {
    return fail(err);
  } finally {
    await composed.close();
    // Always, once the pre-hook ran: the service it stopped comes back even when the order failed.
    if (hooked && options.postHook) {
      const code = await runShell(options.postHook);
      if (code !== 0) sayError(`${name}: the post-hook failed (exit ${code})`);
    }
  }
}

/** The result as JSON, or a one-row table and the files' paths. */
function printIssued(
  out: Output,
  result: {
    name: string;
    ca?: string | undefined;
    identifiers: string[];
    profile: string | null;
    serial: string;
    notAfter: string;
    files: Record<string, string>;
  },
): void {
  out.result(result, () => {
    out.table([
      {
        name: result.name,
        identifiers: result.identifiers.join(', '),
        profile: result.profile ?? '(CA default)',
        ...(result.ca ? { 'issued by': result.ca } : {}),
        serial: result.serial,
        'not after': result.notAfter,
      },
    ]);
    for (const [file, path] of Object.entries(result.files)) out.line(`  ${file.padEnd(9)} ${path}`);
  });
}

/** The first CA that answers must offer the profile; every CA down is exit 3. */
async function checkCas(authorities: readonly Authority[], profile: string | undefined): Promise<void> {
  for (const [i, { ca }] of authorities.entries()) {
    try {
      checkProfile(profile, await ca.directory());
      return;
    } catch (err) {
      const last = i === authorities.length - 1;
      if (!last && asCertkeeperError(err).code === 'unreachable') continue;
      throw err instanceof ValidationError ? renameField(err, 'profile', '--profile') : err;
    }
  }
}

/**
 * An order that failed (the CA, the challenge, the network): the error, with the Fix for a
 * port or webroot the CA did not reach when that was the cause; exit 3 when unreachable.
 */
function reportFailure(name: string, error: CertkeeperError, settings: LocalSettings): number {
  const described = error.describe();
  const fix =
    http01PortFix(described, settings.http01Listen) ?? webrootFix(described, settings.http01Webroot);
  sayError(`${name}: issuance failed: ${described}${fix ? `\nFix: ${fix}` : ''}`);
  return error.code === 'unreachable' ? EXIT.unreachable : EXIT.attention;
}

/** Exit code and message for an error that stopped the command (not a recorded failure). */
function fail(err: unknown): number {
  const error = asCertkeeperError(err);
  sayError(error.describe());
  return error.code === 'validation'
    ? EXIT.usage
    : error.code === 'unreachable'
      ? EXIT.unreachable
      : EXIT.attention;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && [...a].sort().every((v, i) => v === [...b].sort()[i]);

function renameField(err: ValidationError, from: string, to: string): ValidationError {
  return err.field === from
    ? new ValidationError(to, err.message.slice(from.length + 2), err.fix ?? '')
    : err;
}
