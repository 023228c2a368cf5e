import { afterRevocation } from '../../shared/renewal/transition.js';
import { amendUnderLease, LeaseBusyError } from '../../shared/usecases/amend-under-lease.js';
import { type Command, Option } from 'commander';
import { authorityNamed } from '../../shared/authorities/authorities.js';
import { REVOCATION_REASONS, type RevocationReason } from '../../shared/acme/ca.js';
import { ValidationError } from '../../shared/model/errors.js';
import { manifestKey } from '../../shared/store/layout.js';
import {
  action,
  connect,
  readCurrent,
  requireRecord,
  STACK_HELP,
  type StackFlags,
  stackOptions,
} from '../context.js';
import { createOutput, EXIT, EXIT_CODES_HELP } from '../output.js';

interface RevokeOptions extends StackFlags {
  reason: RevocationReason;
  json?: boolean;
}

export function register(program: Command): void {
  const command = program
    .command('revoke')
    .argument('<name>', 'the certificate name')
    .description(
      "Revoke the current certificate at the CA (signed by the stack's ACME account), announce it (certificate.revoked) and have the next scheduler tick issue a replacement",
    )
    .addOption(
      new Option('--reason <reason>', 'the RFC 5280 reason the CA records')
        .choices(Object.keys(REVOCATION_REASONS))
        .makeOptionMandatory(),
    )
    .option('--json', 'print the result as JSON');
  stackOptions(command, ['topic', 'ca'])
    .addHelpText(
      'after',
      `${STACK_HELP}\n${EXIT_CODES_HELP}
  (revoke exits 1 when the CA refuses, e.g. the certificate is already revoked)

Use keyCompromise when the private key may have leaked: the replacement gets a new key
either way, since every issuance generates one.`,
    )
    .action(action(runRevoke));
}

async function runRevoke(name: string, options: RevokeOptions): Promise<number> {
  const out = createOutput({ json: options.json });
  const ctx = await connect(options, ['topic', 'ca']);
  const record = await requireRecord(ctx.inventory, name);
  if (record.state.status === 'retired') {
    // Reissuing is how a revocation is finished here, and a retired certificate is never reissued.
    throw new ValidationError(
      '<name>',
      `certificate "${name}" is retired: revoking it would leave no replacement`,
      `bring it back first (\`certkeeper add ${name} ...\`), or revoke with your CA's own tools`,
    );
  }
  const { manifest, files } = await readCurrent(ctx.store, name, ['cert']);
  // RFC 8555 §7.6: revoked at the CA that issued it (named in the manifest), by its account.
  const issuer = manifest.ca ? authorityNamed(ctx.authorities, manifest.ca) : ctx.authorities[0];
  if (!issuer) {
    throw new ValidationError(
      'manifest.ca',
      `serial ${manifest.serial} was issued by CA "${manifest.ca}", which is no longer configured`,
      `add it back to "cas" in the deployment config, or revoke with that CA's own tools`,
    );
  }
  out.progress(`revoking serial ${manifest.serial} at ${issuer.ca.directoryUrl}`);
  await issuer.ca.revoke(files.cert, options.reason);

  const at = ctx.clock.now().toISOString();
  // The revoked certificate is still the one in place until its replacement is stored:
  // marked for reissue under the lease, after any renewal in progress (which may have
  // replaced it meanwhile, leaving nothing to reissue).
  const amended = await amendUnderLease(
    ctx.runtime.renewDeps,
    name,
    ({ state }) => afterRevocation(ctx.clock.now(), state, manifest.serial),
    { onBusy: () => out.progress(`a renewal of ${name} is in progress: waiting for it to end`) },
  ).catch((err: unknown) => {
    if (err instanceof LeaseBusyError) return err;
    throw err;
  });
  await ctx.events.publish({
    type: 'certificate.revoked',
    certificate: name,
    identifiers: manifest.identifiers,
    serial: manifest.serial,
    notAfter: manifest.notAfter,
    bucket: ctx.bucket,
    manifestKey: manifestKey(name),
    status: record.state.status,
    at,
  });
  const busy = amended instanceof LeaseBusyError ? amended : undefined;
  const done = amended instanceof LeaseBusyError || !amended.found ? undefined : amended;
  const reissue = done?.state !== undefined;
  const replacedBy = done?.before.state.current?.serial;
  out.result(
    {
      certificate: name,
      revoked: true,
      serial: manifest.serial,
      reason: options.reason,
      reissue,
      ...(replacedBy && replacedBy !== manifest.serial ? { replacedBy } : {}),
      ...(busy ? { error: busy.describe() } : {}),
      at,
    },
    () => {
      out.line(`${out.paint('revoked', 'ok')} ${name}: serial ${manifest.serial} (${options.reason})`);
      if (busy) {
        out.line(`  ${out.paint('not marked for reissue', 'fail')}: ${busy.describe()}`);
        out.line(`  then replace it: certkeeper renew ${name} --force --wait`);
      } else if (reissue) {
        out.line('  certificate.revoked published; the next scheduler tick issues a replacement');
        out.line(`  to replace it now: certkeeper renew ${name} --wait`);
      } else if (done) {
        out.line(`  certificate.revoked published; a renewal had already replaced it (serial ${replacedBy})`);
      } else {
        out.line(`  certificate.revoked published; ${name} is no longer in the inventory`);
      }
    },
  );
  return busy ? EXIT.attention : EXIT.ok;
}
