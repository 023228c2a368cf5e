/**
 * `certkeeper add`: declares a certificate (or changes one) in the stack's inventory, with
 * the flags' errors naming the flag that gave the value.
 */
import { parseLabelPairs } from '../../shared/model/labels.js';
import { isIP } from 'node:net';
import { type Command, Option } from 'commander';
import { amendState } from '../../shared/inventory/inventory.js';
import { ValidationError } from '../../shared/model/errors.js';
import { KEY_TYPES } from '../../shared/model/key-types.js';
import {
  CHALLENGE_TYPES,
  type CertificateSpec,
  IP_PROFILE,
  parseCertificateSpec,
} from '../../shared/model/spec.js';
import { revivedState } from '../../shared/renewal/spec-change.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { action, connect, DECLARATIVE_NOTE, STACK_HELP, type StackFlags, stackOptions } from '../context.js';
import { createOutput, EXIT, EXIT_CODES_HELP, relativeTime } from '../output.js';

interface AddOptions extends StackFlags {
  challenge?: string;
  profile?: string;
  keyType?: string;
  zone?: string;
  renewBefore?: string;
  labels?: string[];
  json?: boolean;
}

type IdentifierFlag = '--ip' | '--domain';

export function register(program: Command): void {
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
    .option(
      '--labels <key=value>',
      'labels agents select it by, e.g. role=edge (repeatable; comma-separated pairs too)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--json', 'print the result as JSON');
  stackOptions(command)
    .addHelpText(
      'after',
      `${DECLARATIVE_NOTE}\n${STACK_HELP}\n${EXIT_CODES_HELP}

Examples:
  certkeeper add web --domain example.com --domain '*.example.com'
  certkeeper add edge --ip 203.0.113.10        # profile shortlived, http-01
  certkeeper add api --domain api.example.com --zone Z0123456789ABC --renew-before 10d
  certkeeper add edge --domain edge.example.com --labels role=edge   # every agent selecting role=edge gets it`,
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
  labels: '--labels',
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
  if (options.labels?.length) input.labels = parseLabelPairs(options.labels, '--labels');
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
