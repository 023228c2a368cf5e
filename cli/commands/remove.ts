/**
 * `certkeeper remove`: retires a certificate in the stack's inventory (its files and keys kept);
 * with `--out DIR`, local mode's delete (cli/local/manage.ts).
 */
import type { Command } from 'commander';
import { ValidationError } from '../../shared/model/errors.js';
import { certificatePrefix } from '../../shared/store/layout.js';
import { retireCertificate } from '../../shared/usecases/retire-certificate.js';
import {
  action,
  connect,
  DECLARATIVE_NOTE,
  requireRecord,
  STACK_HELP,
  type StackFlags,
  stackOptions,
} from '../context.js';
import { createOutput, EXIT, EXIT_CODES_HELP } from '../output.js';

interface RemoveOptions extends StackFlags {
  json?: boolean;
  /** Local mode (cli/local/manage.ts): forget the certificate of this directory. */
  out?: string;
  yes?: boolean;
}

const LOCAL_REMOVE_HELP = `
Local mode (--out DIR): forgets the certificate issued into DIR, as \`certbot delete\` does:
its inventory record, settings, DIR/live/<name>/ links and DIR/certificates/<name>/ (every
serial, private keys included) are deleted. The ACME account in DIR/accounts/ and the lock's
fencing counter stay. Nothing is revoked. It asks first on a terminal; --yes skips that (and
is required without a terminal).`;

export function register(program: Command): void {
  const command = program
    .command('remove')
    .argument('<name>', 'the certificate name')
    .description(
      'Retire a certificate: out of the schedule, never renewed again; its files and keys in the bucket are kept (only the key kept for an unfinished order is removed). With --out DIR (local mode): delete it from DIR',
    )
    .option('--json', 'print the result as JSON')
    .option('--out <dir>', 'local mode: delete the certificate from this directory (see below)')
    .option('--yes', 'local mode: delete without asking');
  stackOptions(command)
    .addHelpText('after', `${DECLARATIVE_NOTE}\n${LOCAL_REMOVE_HELP}\n${STACK_HELP}\n${EXIT_CODES_HELP}`)
    .action(action(runRemove));
}

async function runRemove(name: string, options: RemoveOptions): Promise<number> {
  if (options.out !== undefined) {
    const { runLocalRemove } = await import('../local/manage.js');
    return runLocalRemove(name, { out: options.out, json: options.json, yes: options.yes });
  }
  if (options.yes)
    throw new ValidationError('--yes', 'applies to local mode only', 'add --out DIR, or drop --yes');
  const out = createOutput({ json: options.json });
  const ctx = await connect(options);
  const record = await requireRecord(ctx.inventory, name);
  // Under the lease, after any renewal in progress, which would otherwise write its state
  // (back in the schedule) over the retirement; the key kept for an order in flight goes.
  const amended = await retireCertificate(ctx.runtime.renewDeps, name, {
    onBusy: () => out.progress(`a renewal of ${name} is in progress: waiting for it to end`),
  });
  const written = amended.found && amended.state !== undefined;
  const kept = `s3://${ctx.bucket}/${certificatePrefix(name)}`;
  out.result(
    {
      certificate: name,
      retired: true,
      alreadyRetired: !written,
      serial: record.state.current?.serial,
      kept,
    },
    () => {
      out.line(
        written
          ? `${out.paint('retired', 'ok')} ${name}: it will not be renewed again`
          : `${name} was already retired`,
      );
      out.line(`  its files and keys stay in ${kept}; only the key kept for an unfinished order is removed`);
      out.line(`  \`certkeeper add ${name} ...\` (or a deploy that declares it) brings it back`);
    },
  );
  return EXIT.ok;
}
