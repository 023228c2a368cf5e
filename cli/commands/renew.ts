import type { Command } from 'commander';
import { ValidationError } from '../../shared/model/errors.js';
import { runLocalRenew } from '../local/renew.js';
import { WELL_KNOWN_CA_NAMES as DIRECTORY_NAMES, directoryFlag, directoryOptions } from '../directory-url.js';
import { parseDuration } from '../../shared/model/spec.js';
import type { CertificateState, LastError } from '../../shared/model/state.js';
import { forcedRenewal } from '../../shared/queue/queue.js';
import { dueReason } from '../../shared/renewal/policy.js';
import {
  action,
  connect,
  type OperatorContext,
  requireRecord,
  STACK_HELP,
  type StackFlags,
  stackOptions,
} from '../context.js';
import { createOutput, EXIT, EXIT_CODES_HELP, type Output, relativeTime } from '../output.js';

interface RenewOptions extends StackFlags {
  force?: boolean;
  wait?: boolean;
  timeout: string;
  json?: boolean;
  /** Local mode (cli/local/): issue into this directory instead of the stack. */
  out?: string;
  deployHook?: string;
  /** The old spelling of --directory-url (StackFlags.directoryUrl). */
  directory?: string;
  caFile?: string;
  http01Listen?: string;
  http01Webroot?: string;
  days?: string;
  preHook?: string;
  postHook?: string;
}

const POLL_MS = 1000;

export function register(program: Command): void {
  const command = program
    .command('renew')
    // Optional only for local mode, which renews every due certificate in DIR.
    .argument('[name]', 'the certificate name (stack mode)')
    .description(
      "Ask the stack's issuer to renew a certificate now (a message on the issuer queue); with --wait, follow it to the end. With --out, renew locally instead (local mode)",
    )
    .option('--force', 'renew even when the certificate is not due')
    .option('--wait', 'wait until the attempt ends: a new serial (exit 0) or a recorded failure (exit 1)')
    .option('--timeout <duration>', 'with --wait: give up after this long (s, m, h)', '10m')
    .option('--json', 'print the result as JSON')
    .option('--out <dir>', 'local mode: issue into this directory (see `certkeeper issue --help`)')
    .option('--deploy-hook <command>', 'local mode: run this command after a renewal');
  directoryOptions(
    command,
    `local mode: the CA's ACME directory URL, or ${DIRECTORY_NAMES} (default: the one DIR was issued from)`,
  )
    .option('--days <n>', 'local mode: renew when fewer than N days are left, instead of the renewal policy')
    .option('--ca-file <pem>', 'local mode: trust this CA for the ACME server HTTPS')
    .option('--http01-listen <host:port>', 'local mode: answer HTTP-01 on this address')
    .option(
      '--http01-webroot <webroot>',
      'local mode: answer HTTP-01 through a running web server, writing the token to WEBROOT/.well-known/acme-challenge/ (default: the way each certificate was issued)',
    )
    .option(
      '--pre-hook <command>',
      "local mode: run this (sh -c) once before the run's first order, e.g. to stop a service that holds port 80; if it fails, nothing is ordered (default: the pre-hook each certificate's issue saved)",
    )
    .option(
      '--post-hook <command>',
      "local mode: run this once after the run when anything was ordered, whether it succeeded or failed (e.g. start that service again; default: the post-hook each certificate's issue saved)",
    );
  stackOptions(command, ['queue'])
    .addHelpText(
      'after',
      `${STACK_HELP}\n${EXIT_CODES_HELP}

  With --wait: 0 a new certificate was stored, 1 the attempt failed (the problem is printed)
  or --timeout passed first. Without --wait, 0 means the request was queued.
  With --out (local mode): 0 every certificate in DIR is renewed or not due; 1 one failed,
  was never issued, or failed its last attempt and waits for its next one (cron sees it),
  or a hook (deploy, pre, post) failed.

Examples:
  certkeeper renew web                      # queue it; the issuer renews it if it is due
  certkeeper renew web --force --wait       # renew now and wait for the result`,
    )
    .action(action(runRenew));
}

async function runRenew(name: string | undefined, options: RenewOptions): Promise<number> {
  if (options.out !== undefined) return runLocal(name, options);
  // The name is optional only for local mode; without it the stack has nothing to look up.
  if (name === undefined) {
    throw new ValidationError(
      '<name>',
      'renew needs the certificate to renew (stack mode) or --out DIR (local mode)',
      'give the name, e.g. `certkeeper renew web`, or add --out DIR to renew a local directory',
    );
  }
  for (const [flag, value] of [
    ['--directory-url', directoryFlag(options)],
    ['--deploy-hook', options.deployHook],
    ['--days', options.days],
    ['--pre-hook', options.preHook],
    ['--post-hook', options.postHook],
  ] as const) {
    if (value !== undefined) {
      throw new ValidationError(flag, 'applies to local mode only', `add --out DIR, or drop ${flag}`);
    }
  }
  const timeoutMs = parseDuration(options.timeout, '--timeout');
  const out = createOutput({ json: options.json });
  const ctx = await connect(options, ['queue']);
  const record = await requireRecord(ctx.inventory, name);
  const now = ctx.clock.now();
  if (record.state.status === 'retired') {
    throw new ValidationError(
      '<name>',
      `certificate "${name}" is retired, so the issuer would not renew it`,
      `bring it back first with \`certkeeper add ${name} ...\` (or declare it and deploy)`,
    );
  }
  // Without --force the issuer re-decides under the lease and leaves a certificate that is
  // not due alone: waiting for that would only run into the timeout.
  const reason = dueReason(record.spec, record.state, now);
  if (options.wait && !options.force && !reason) {
    throw new ValidationError(
      '--wait',
      `"${name}" is not due (${record.state.dueAt ? `next check ${relativeTime(record.state.dueAt, now)}` : 'not scheduled'}), so the issuer would not renew it and there is nothing to wait for`,
      'add --force to renew it now',
    );
  }

  const requestedAt = now.toISOString();
  // The issuer honours a forced request once, by its id: a duplicate delivery or a replay
  // of the message does not order again (shared/renewal/forced.ts).
  const message = { ...forcedRenewal(name, now), force: Boolean(options.force) };
  const requestId = message.request.id;
  await ctx.queue().enqueue([message]);
  const queued = {
    certificate: name,
    queued: true,
    requestId,
    force: Boolean(options.force),
    due: reason ?? null,
    requestedAt,
  };
  if (!options.wait) {
    out.result(queued, () => {
      out.line(`${out.paint('queued', 'ok')} renewal of ${name}${options.force ? ' (forced)' : ''}`);
      out.line(
        reason || options.force
          ? '  the issuer picks it up within seconds; follow it with `certkeeper status ' + name + '`'
          : '  it is not due: the issuer will only poll ARI and leave it; add --force to renew now',
      );
    });
    return EXIT.ok;
  }

  out.progress(`queued renewal of ${name}; waiting for the issuer (up to ${options.timeout})`);
  const ended = await follow(ctx, name, record.state, Date.parse(requestedAt), timeoutMs, out);
  const result = { ...queued, ...ended };
  out.result(result, () => {
    if (ended.outcome === 'renewed') {
      out.line(
        `${out.paint('renewed', 'ok')} ${name}: serial ${ended.serial}, valid until ${ended.notAfter}`,
      );
    } else if (ended.outcome === 'failed') {
      const e = ended.error!;
      out.line(
        `${out.paint('failed', 'fail')} ${name}: ${e.type ? `${e.type}: ` : `${e.code}: `}${e.detail}`,
      );
      out.line(
        `  attempt ${ended.attempts}${ended.nextAttemptAt ? `; next attempt ${relativeTime(ended.nextAttemptAt, ctx.clock.now())}` : ''}`,
      );
    } else {
      out.line(
        `${out.paint('timed out', 'warn')} after ${options.timeout}: the renewal of ${name} has not ended yet`,
      );
      out.line('  the message stays queued; see `certkeeper status ' + name + '`');
    }
  });
  return ended.outcome === 'renewed' ? EXIT.ok : EXIT.attention;
}

interface Ended {
  outcome: 'renewed' | 'failed' | 'timeout';
  serial?: string;
  notAfter?: string;
  error?: LastError;
  attempts?: number;
  nextAttemptAt?: string | null;
}

/**
 * Polls the inventory until the attempt shows: a new serial means it worked, a lastError
 * recorded after the request (and newer than the one already there) means it failed.
 */
async function follow(
  ctx: OperatorContext,
  name: string,
  before: CertificateState,
  requestedAtMs: number,
  timeoutMs: number,
  out: Output,
): Promise<Ended> {
  const deadline = Date.now() + timeoutMs;
  let lastSeen = before.updatedAt;
  for (;;) {
    const { state } = await requireRecord(ctx.inventory, name);
    if (state.current && state.current.serial !== before.current?.serial) {
      return { outcome: 'renewed', serial: state.current.serial, notAfter: state.current.notAfter };
    }
    const error = state.lastError;
    // One second of slack for clocks: the issuer's and this machine's.
    if (error && error.at !== before.lastError?.at && Date.parse(error.at) >= requestedAtMs - 1000) {
      return {
        outcome: 'failed',
        error,
        attempts: state.attempts,
        nextAttemptAt: state.nextAttemptAt ?? null,
      };
    }
    if (state.updatedAt !== lastSeen) {
      lastSeen = state.updatedAt;
      out.progress(
        state.orderUrl ? `order in progress: ${state.orderUrl}` : `state updated (${state.status})`,
      );
    }
    if (Date.now() >= deadline) return { outcome: 'timeout' };
    await new Promise((done) => setTimeout(done, POLL_MS));
  }
}

/** Local mode: every due certificate in DIR, through cli/local/renew.ts. */
async function runLocal(name: string | undefined, options: RenewOptions): Promise<number> {
  if (name !== undefined) {
    throw new ValidationError(
      '<name>',
      'local mode renews every certificate in DIR that is due',
      'drop the name',
    );
  }
  if (options.wait)
    throw new ValidationError('--wait', 'applies to the stack only', 'drop --wait with --out');
  // The local flags are LocalRenewOptions' own names; the stack flags are not read there.
  return runLocalRenew({ ...options, out: options.out!, directory: directoryFlag(options) });
}
