/**
 * `certkeeper list`: the certificates of the stack's inventory; with `--out DIR`, those of a
 * local directory (cli/local/manage.ts).
 */
import type { Command } from 'commander';
import { action, connect, STACK_HELP, type StackFlags, stackOptions } from '../context.js';
import { createOutput, EXIT, EXIT_CODES_HELP, relativeTime } from '../output.js';
import { summarize, tone } from '../summary.js';

interface ListOptions extends StackFlags {
  json?: boolean;
  /** Local mode (cli/local/manage.ts): the certificates of this directory. */
  out?: string;
}

export function register(program: Command): void {
  const command = program
    .command('list')
    .description(
      'List the certificates in the inventory: status, expiry, next renewal, failures. With --out DIR (local mode): the certificates issued into DIR',
    )
    .option('--json', 'print the certificates as a JSON array')
    .option(
      '--out <dir>',
      'local mode: list the certificates in this directory (name, identifiers, serial, expiry, days left, last error)',
    );
  stackOptions(command)
    .addHelpText(
      'after',
      `${STACK_HELP}\n${EXIT_CODES_HELP}\n  (list exits 1 when a certificate has failed attempts, is failing or expired; so does list --out DIR)`,
    )
    .action(action(runList));
}

async function runList(options: ListOptions): Promise<number> {
  if (options.out !== undefined) {
    const { runLocalList } = await import('../local/manage.js');
    return runLocalList({ out: options.out, json: options.json });
  }
  const out = createOutput({ json: options.json });
  const ctx = await connect(options);
  const now = ctx.clock.now();
  const summaries = (await ctx.inventory.list()).map((r) => summarize(r, now));
  out.result(summaries, () =>
    out.table(
      summaries.map((s) => ({
        name: s.name,
        identifiers: s.identifiers.join(','),
        profile: s.profile ?? '-',
        status: out.paint(s.status, tone(s)),
        notAfter: s.notAfter ? `${s.notAfter} (${relativeTime(s.notAfter, now)})` : '-',
        ca: s.ca ?? '-',
        renewal: s.renewalAt ? relativeTime(s.renewalAt, now) : '-',
        failures: s.attempts > 0 ? out.paint(String(s.attempts), 'fail') : '0',
      })),
    ),
  );
  return summaries.some((s) => s.needsAttention) ? EXIT.attention : EXIT.ok;
}
