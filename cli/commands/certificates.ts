import { amendState } from '../../shared/inventory/inventory.js';
import { isIP } from 'node:net';
import { type Command, Option } from 'commander';
import { amendUnderLease } from '../../shared/usecases/amend-under-lease.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { CertkeeperError, ValidationError } from '../../shared/model/errors.js';
import { KEY_TYPES } from '../../shared/model/keys.js';
import {
  CHALLENGE_TYPES,
  type CertificateSpec,
  IP_PROFILE,
  parseCertificateSpec,
} from '../../shared/model/spec.js';
import { dueReason } from '../../shared/renewal/policy.js';
import { retiredState, revivedState } from '../../shared/renewal/spec-change.js';
import { certificatePrefix } from '../../shared/store/keys.js';
import type { Manifest } from '../../shared/store/store.js';
import { action, connect, requireRecord, STACK_HELP, type StackFlags, stackOptions } from '../context.js';
import { createOutput, EXIT, EXIT_CODES_HELP, relativeTime } from '../output.js';
import { summarize, tone } from '../summary.js';
import { summarizeFleet } from '../../shared/fleet/status.js';
import { fleetNeedsAttention, fleetRows, printFleet, readFleetView } from './fleet-status.js';

const DECLARATIVE_NOTE = `
The config file and a deploy are the declarative source of the inventory: these commands
write the inventory directly, and the next deploy retires every certificate that is not in
certkeeper.config.json (and brings back the ones that are). Add the certificate to the
config as well to keep it.`;

export function register(program: Command): void {
  registerAdd(program);
  registerRemove(program);
  registerList(program);
  registerStatus(program);
}

// ---------------------------------------------------------------------------------- add

interface AddOptions extends StackFlags {
  challenge?: string;
  profile?: string;
  keyType?: string;
  zone?: string;
  renewBefore?: string;
  json?: boolean;
}

type IdentifierFlag = '--ip' | '--domain';

function registerAdd(program: Command): void {
  // Commander keeps --ip and --domain in separate lists; the order the operator typed them
  // in is the certificate's identifier order, and lets an error at identifiers[i] name the
  // flag that gave it.
  const typed: { flag: IdentifierFlag; value: string }[] = [];
  const collect = (flag: IdentifierFlag) => (value: string, previous: string[] | undefined) => {
    typed.push({ flag, value });
    return [...(previous ?? []), value];
  };
  const command = program
    .command('add')
    .argument('<name>', 'the certificate name (lower-case letters, digits, ".", "_", "-")')
    .description(
      'Declare a certificate (or change one) in the inventory; the scheduler issues it on its next tick',
    )
    .option('--ip <address>', 'an IP address to certify (repeatable; canonical form)', collect('--ip'))
    .option('--domain <name>', 'a DNS name or *.wildcard to certify (repeatable)', collect('--domain'))
    .addOption(new Option('--challenge <type>', 'how the CA validates').choices(CHALLENGE_TYPES))
    .option('--profile <name>', `the ACME profile (default: "${IP_PROFILE}" with an IP, else the CA's)`)
    .addOption(new Option('--key-type <type>', 'the key type (default: ecdsa-p256)').choices(KEY_TYPES))
    .option('--zone <id>', 'the Route53 hosted zone id for dns-01 (default: longest suffix match)')
    .option('--renew-before <duration>', 'renew when this much time is left, e.g. 72h')
    .option('--json', 'print the result as JSON');
  stackOptions(command)
    .addHelpText(
      'after',
      `${DECLARATIVE_NOTE}\n${STACK_HELP}\n${EXIT_CODES_HELP}

Examples:
  certkeeper add web --domain example.com --domain '*.example.com'
  certkeeper add edge --ip 203.0.113.10        # profile shortlived, http-01
  certkeeper add api --domain api.example.com --zone Z0123456789ABC --renew-before 10d`,
    )
    .action(action((name: string, options: AddOptions) => runAdd(name, options, typed)));
}

/** Spec fields as the flags that set them, so a validation error names what to change. */
const FLAG_FOR_FIELD: Record<string, string> = {
  name: '<name>',
  challenge: '--challenge',
  profile: '--profile',
  keyType: '--key-type',
  hostedZoneId: '--zone',
  renewBefore: '--renew-before',
  identifiers: '--ip/--domain',
};

async function runAdd(
  name: string,
  options: AddOptions,
  typed: readonly { flag: IdentifierFlag; value: string }[],
): Promise<number> {
  const out = createOutput({ json: options.json });
  const input = specInput(name, options, typed);
  // Validated before the stack is even looked up: bad arguments never reach the inventory.
  let spec: CertificateSpec;
  try {
    spec = parseCertificateSpec(input, 'certificate');
  } catch (err) {
    throw asFlagError(err, typed);
  }
  const ctx = await connect(options);
  const before = await ctx.inventory.get(name);
  await declareCertificate(ctx.inventory, input, ctx.clock);
  // Like a deploy that declares it again: a retired certificate comes back.
  const revived = await amendState(ctx.inventory, name, ({ state }) => revivedState(state, ctx.clock.now()));
  const after = await ctx.inventory.get(name);

  const notices: string[] = [];
  if (spec.identifiers.some((i) => i.type === 'ip') && options.profile === undefined) {
    notices.push(`profile ${IP_PROFILE} chosen: Let's Encrypt issues IP certificates only on it`);
  }
  if (revived) notices.push('it was retired and is back in the schedule');
  notices.push(
    'written to the inventory directly: add it to certkeeper.config.json too, or the next deploy retires it',
  );
  const change = !before
    ? 'added'
    : revived
      ? 'revived'
      : JSON.stringify(before.spec) === JSON.stringify(spec)
        ? 'unchanged'
        : 'updated';
  out.result({ certificate: name, change, spec, status: after?.state.status, notices }, () => {
    out.line(
      `${out.paint(change, 'ok')} ${name}: ${spec.identifiers.map((i) => i.value).join(', ')} (${spec.challenge}, profile ${spec.profile ?? 'CA default'}, ${spec.keyType})`,
    );
    for (const notice of notices) out.line(`  ${notice}`);
    if (after?.state.dueAt)
      out.line(
        `  due ${relativeTime(after.state.dueAt, ctx.clock.now())}: the next scheduler tick issues it`,
      );
  });
  return EXIT.ok;
}

function specInput(
  name: string,
  options: AddOptions,
  typed: readonly { flag: IdentifierFlag; value: string }[],
): Record<string, unknown> {
  if (typed.length === 0) {
    throw new ValidationError(
      '--ip/--domain',
      'no identifier given',
      'pass at least one --domain NAME or --ip ADDRESS',
    );
  }
  // The spec parser tells IPs from names by their form; a flag that says the other thing
  // is a typo worth catching rather than silently reinterpreting.
  for (const { flag, value } of typed) {
    const ip = isIP(value.replace(/^\[|\]$/g, '')) !== 0;
    if (flag === '--ip' && !ip) {
      throw new ValidationError('--ip', `"${value}" is not an IP address`, 'pass DNS names with --domain');
    }
    if (flag === '--domain' && ip) {
      throw new ValidationError('--domain', `"${value}" is an IP address`, 'pass IP addresses with --ip');
    }
  }
  const input: Record<string, unknown> = { name, identifiers: typed.map((t) => t.value) };
  if (options.challenge !== undefined) input.challenge = options.challenge;
  if (options.profile !== undefined) input.profile = options.profile;
  if (options.keyType !== undefined) input.keyType = options.keyType;
  if (options.zone !== undefined) input.hostedZoneId = options.zone;
  if (options.renewBefore !== undefined) input.renewBefore = options.renewBefore;
  return input;
}

/** Rewrites `certificate.identifiers[1]: ...` as `--domain: ...` (the flag behind that entry). */
function asFlagError(err: unknown, typed: readonly { flag: IdentifierFlag }[]): unknown {
  if (!(err instanceof ValidationError)) return err;
  const match = /^certificate\.(\w+)(?:\[(\d+)\])?/.exec(err.field);
  if (!match) return err;
  const [, field, index] = match;
  const flag =
    field === 'identifiers' && index !== undefined
      ? (typed[Number(index)]?.flag ?? '--ip/--domain')
      : (FLAG_FOR_FIELD[field!] ?? err.field);
  const problem = err.message.slice(err.field.length + 2);
  return new ValidationError(flag, problem, err.fix ?? 'correct the value');
}

// ------------------------------------------------------------------------------- remove

interface JsonOptions extends StackFlags {
  json?: boolean;
}

interface RemoveOptions extends JsonOptions {
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

function registerRemove(program: Command): void {
  const command = program
    .command('remove')
    .argument('<name>', 'the certificate name')
    .description(
      'Retire a certificate: out of the schedule, never renewed again; its files and keys in the bucket are kept, nothing is deleted. With --out DIR (local mode): delete it from DIR',
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
  // (back in the schedule) over the retirement.
  const amended = await amendUnderLease(
    ctx.runtime.renewDeps,
    name,
    ({ state }) => retiredState(state, ctx.clock.now()),
    { onBusy: () => out.progress(`a renewal of ${name} is in progress: waiting for it to end`) },
  );
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
      out.line(`  nothing was deleted: its files and keys stay in ${kept}`);
      out.line(`  \`certkeeper add ${name} ...\` (or a deploy that declares it) brings it back`);
    },
  );
  return EXIT.ok;
}

// --------------------------------------------------------------------------------- list

function registerList(program: Command): void {
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

async function runList(options: JsonOptions & { out?: string }): Promise<number> {
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

// ------------------------------------------------------------------------------- status

function registerStatus(program: Command): void {
  const command = program
    .command('status')
    .argument('[name]', 'one certificate (all of them, as the fleet view, when omitted)')
    .description(
      "Without a name: every certificate's delivery targets (agents, probed endpoints, ACM regions), the serial each has, how far behind and how quiet it is. With a name: everything about one certificate: spec, state, ARI window, last error, attempts, next attempt, the bucket's manifest and its targets",
    )
    .option('--json', 'print the status as JSON');
  stackOptions(command)
    .addHelpText(
      'after',
      `${STACK_HELP}\n${EXIT_CODES_HELP}\n  (status exits 1 when the certificate has failed attempts, is failing or expired, or
   when a delivery target is behind, silent, unreachable or serves another certificate)`,
    )
    .action(action(runStatus));
}

async function runStatus(name: string | undefined, options: JsonOptions): Promise<number> {
  if (name === undefined) return runFleetStatus(options);
  const out = createOutput({ json: options.json });
  const ctx = await connect(options);
  const record = await requireRecord(ctx.inventory, name);
  const now = ctx.clock.now();
  const summary = summarize(record, now);
  const { spec, state } = record;
  // A manifest that cannot be read is reported, not fatal: the inventory part still helps.
  let manifest: Manifest | undefined;
  let manifestError: string | undefined;
  try {
    manifest = await ctx.store.getManifest(name);
  } catch (err) {
    if (err instanceof CertkeeperError && err.code === 'unreachable') throw err;
    manifestError = err instanceof CertkeeperError ? err.describe() : String(err);
  }
  const view = await readFleetView(ctx);
  const targets = fleetRows(view, now, name);
  const result = {
    ...summary,
    spec,
    state,
    dueReason: dueReason(spec, state, now) ?? null,
    ari: state.ari ?? null,
    lastError: state.lastError ?? null,
    nextAttemptAt: state.nextAttemptAt ?? null,
    manifest: manifest ?? null,
    manifestError: manifestError ?? null,
    targets,
  };
  out.result(result, () => {
    const when = (iso: string | undefined | null) => (iso ? `${iso} (${relativeTime(iso, now)})` : '-');
    out.line(`${name}: ${out.paint(state.status, tone(summary))}`);
    out.line(`  identifiers    ${summary.identifiers.join(', ')}`);
    out.line(`  challenge      ${spec.challenge}${spec.hostedZoneId ? ` (zone ${spec.hostedZoneId})` : ''}`);
    out.line(`  profile        ${spec.profile ?? 'CA default'}`);
    out.line(`  key type       ${spec.keyType}`);
    if (spec.renewBefore) out.line(`  renew before   ${spec.renewBefore}`);
    if (spec.renewBeforePercentage)
      out.line(`  renew before   ${spec.renewBeforePercentage}% of the lifetime`);
    out.line(`  serial         ${state.current?.serial ?? '- (never issued)'}`);
    if (state.current) {
      if (state.current.ca) out.line(`  issued by      ${state.current.ca}`);
      out.line(`  not before     ${state.current.notBefore}`);
      out.line(`  not after      ${when(state.current.notAfter)}`);
    }
    out.line(`  renewal        ${when(summary.renewalAt)}${state.reissue ? ' (reissue requested)' : ''}`);
    out.line(
      `  next check     ${when(summary.dueAt)}${result.dueReason ? ` (due now: ${result.dueReason})` : ''}`,
    );
    if (state.ari) {
      const a = state.ari;
      out.line(
        `  ARI window     ${a.windowStart && a.windowEnd ? `${a.windowStart} .. ${a.windowEnd}` : '- (not polled yet)'}`,
      );
      if (a.selectedAt) out.line(`  ARI selected   ${when(a.selectedAt)}`);
      if (a.explanationURL) out.line(`  ARI why        ${a.explanationURL}`);
      out.line(
        `  ARI next poll  ${when(a.nextPollAt)}${a.lastError ? ` (last poll failed: ${a.lastError})` : ''}`,
      );
    }
    out.line(
      `  attempts       ${state.attempts > 0 ? out.paint(String(state.attempts), 'fail') : '0'} failed in a row`,
    );
    if (state.nextAttemptAt) out.line(`  next attempt   ${when(state.nextAttemptAt)}`);
    if (state.caAttempt && state.attempts > 0) {
      out.line(`  trying CA      ${state.caAttempt.name} (${state.caAttempt.failures} of its own failures)`);
    }
    if (state.lastError) {
      const e = state.lastError;
      const at = e.ca ? ` at ${e.ca}` : '';
      out.line(`  last error     ${e.at}${at}: ${e.type ? `${e.type}: ` : `${e.code}: `}${e.detail}`);
    }
    if (state.lastSuccessAt) out.line(`  last success   ${state.lastSuccessAt}`);
    if (manifest) {
      out.line(`  manifest       s3://${ctx.bucket}/${certificatePrefix(name)}current.json`);
      out.line(`    serial       ${manifest.serial}`);
      if (manifest.ca) out.line(`    issued by    ${manifest.ca}`);
      out.line(`    validity     ${manifest.notBefore} .. ${manifest.notAfter}`);
      out.line(`    issued       ${manifest.issuedAt}`);
      for (const [file, entry] of Object.entries(manifest.files)) {
        out.line(`    ${file.padEnd(12)} sha256 ${entry.sha256}`);
      }
    } else {
      out.line(
        `  manifest       ${manifestError ? out.paint(manifestError, 'fail') : '- (none in the bucket)'}`,
      );
    }
    if (spec.delivery) {
      out.line('  delivery targets');
      printFleet(out, targets, view, now);
    }
  });
  return summary.needsAttention || fleetNeedsAttention(targets) ? EXIT.attention : EXIT.ok;
}

/** Every certificate's delivery targets, from the fleet view of the last tick. */
async function runFleetStatus(options: JsonOptions): Promise<number> {
  const out = createOutput({ json: options.json });
  const ctx = await connect(options);
  const now = ctx.clock.now();
  const records = await ctx.inventory.list();
  const view = await readFleetView(ctx);
  const rows = fleetRows(view, now);
  const summaries = records.map((r) => summarize(r, now));
  out.result(
    {
      at: view?.at ?? null,
      lagMinutes: view?.lagMinutes ?? null,
      summary: summarizeFleet(view),
      certificates: summaries.map((s) => ({ ...s, targets: rows.filter((r) => r.certificate === s.name) })),
    },
    () =>
      printFleet(
        out,
        rows,
        view,
        now,
        records.filter((r) => !r.spec.delivery && r.state.status !== 'retired'),
      ),
  );
  return fleetNeedsAttention(rows) || summaries.some((s) => s.needsAttention) ? EXIT.attention : EXIT.ok;
}
