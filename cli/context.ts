/**
 * How an operator command finds the deployed stack: flags first, then the environment
 * variables the Lambdas read (CERTKEEPER_*), with the user's own AWS credentials and the
 * SDK's AWS_ENDPOINT_URL* variables. The composition itself is the Lambdas' own
 * (composition/aws-issuer.ts, composition/operator-agents.ts), so the CLI talks to the
 * inventory, bucket, queue, topic and CA exactly as the issuer does.
 */
import type { Command } from 'commander';
import type { IssuerRuntime } from '../composition/aws-issuer.js';
import type { OperatorAgentParts } from '../composition/operator-agents.js';
import type { Authority } from '../shared/authorities/authorities.js';
import type { EventPublisher } from '../shared/events/publisher.js';
import type { Inventory } from '../shared/inventory/inventory.js';
import type { Clock } from '../shared/model/clock.js';
import { CertkeeperError, IntegrityError, NotFoundError, ValidationError } from '../shared/model/errors.js';
import type { InventoryRecord } from '../shared/model/state.js';
import type { WorkQueue } from '../shared/queue/queue.js';
import { sha256Hex } from '../shared/pki/hash.js';
import type { BundleFile } from '../shared/store/layout.js';
import type { CertificateStore, Manifest } from '../shared/store/store.js';
import { caDirectoryUrl } from './directory-url.js';
import { EXIT, terminalSafe } from './output.js';

/** The stack flags every operator command accepts (commander's camel-cased names). */
export interface StackFlags {
  bucket?: string;
  table?: string;
  region?: string;
  queueUrl?: string;
  topicArn?: string;
  directoryUrl?: string;
  fleetTable?: string;
  enrolUrl?: string;
  /** A CloudFormation stack whose outputs supply the defaults of the flags above. */
  stack?: string;
}

/** What a command needs beyond the inventory and the bucket, which all of them read. */
export type Need = 'queue' | 'topic' | 'ca' | 'fleet' | 'enrol';

interface Source {
  key: keyof StackFlags;
  flag: string;
  env: string;
  help: string;
  need?: Need;
}

const SOURCES: readonly Source[] = [
  { key: 'bucket', flag: '--bucket <name>', env: 'CERTKEEPER_BUCKET', help: 'the certificate bucket' },
  { key: 'table', flag: '--table <name>', env: 'CERTKEEPER_TABLE', help: 'the inventory table' },
  { key: 'region', flag: '--region <region>', env: 'AWS_REGION', help: 'the AWS region of the stack' },
  {
    key: 'queueUrl',
    flag: '--queue-url <url>',
    env: 'CERTKEEPER_QUEUE_URL',
    help: 'the issuer queue',
    need: 'queue',
  },
  {
    key: 'topicArn',
    flag: '--topic-arn <arn>',
    env: 'CERTKEEPER_TOPIC_ARN',
    help: 'the events topic',
    need: 'topic',
  },
  {
    key: 'directoryUrl',
    flag: '--directory-url <url>',
    env: 'CERTKEEPER_DIRECTORY_URL',
    help: 'the ACME directory the certificates came from (URL, or letsencrypt / letsencrypt-staging)',
    need: 'ca',
  },
  {
    key: 'fleetTable',
    flag: '--fleet-table <name>',
    env: 'CERTKEEPER_FLEET_TABLE',
    help: "the agents' fleet table (inboxes, reports)",
    need: 'fleet',
  },
  {
    key: 'enrolUrl',
    flag: '--enrol-url <url>',
    env: 'CERTKEEPER_ENROL_URL',
    help: 'the identity endpoint agents join at (join tokens name it)',
    need: 'enrol',
  },
];

const flagName = (s: Source) => s.flag.split(' ')[0]!;

/**
 * The runtime's schema insists on a directory URL because the issuer cannot work without
 * one; commands that never talk to the CA (list, status, export, ...) should not make the
 * operator look it up, so they get this address, which cannot resolve (RFC 6761 .invalid).
 */
const UNUSED_DIRECTORY_URL = 'https://acme.invalid/directory';

/** The stack outputs (infra/stack.ts) that stand in for flags, and what needs each. */
const OUTPUTS: readonly { output: string; key: keyof StackFlags; need?: Need }[] = [
  { output: 'BucketName', key: 'bucket' },
  { output: 'TableName', key: 'table' },
  { output: 'IssuerQueueUrl', key: 'queueUrl', need: 'queue' },
  { output: 'EventsTopicArn', key: 'topicArn', need: 'topic' },
  { output: 'FleetTableName', key: 'fleetTable', need: 'fleet' },
  { output: 'AgentEnrolmentUrl', key: 'enrolUrl', need: 'enrol' },
];

/**
 * Adds the stack flags a command needs, naming the environment variable each falls back to,
 * and `--stack NAME`: before the command's action runs, the stack's outputs fill in the
 * flags that were not given (see {@link readStackOutputs}). With `readOutputs: false` the
 * command reads them itself when it connects (the dashboard, which shows a stack it cannot
 * reach on its page rather than exiting).
 */
export function stackOptions(
  command: Command,
  needs: readonly Need[] = [],
  options: { readOutputs?: boolean } = {},
): Command {
  for (const source of SOURCES) {
    if (source.need && !needs.includes(source.need)) continue;
    command.option(source.flag, `${source.help} (default: $${source.env})`);
  }
  command.option(
    '--stack <name>',
    'the deployed CloudFormation stack: its outputs are the defaults of the flags above (default: $CERTKEEPER_STACK)',
  );
  if (options.readOutputs === false) return command;
  command.hook('preAction', async (self) => {
    const flags = self.opts<StackFlags>();
    const defaults = await readStackOutputs(flags, needs);
    for (const [key, value] of Object.entries(defaults)) self.setOptionValueWithSource(key, value, 'default');
  });
  return command;
}

/**
 * The flags a stack's outputs supply: with `--stack NAME` (or CERTKEEPER_STACK), reads the
 * stack's outputs with DescribeStacks and returns BucketName, TableName, IssuerQueueUrl and
 * EventsTopicArn for whichever of --bucket, --table, --queue-url, --topic-arn were not
 * given; explicit flags win. Without a stack name, nothing (and no CloudFormation client is
 * loaded). A stack that does not exist, or lacks an output the command needs, is a usage
 * error naming --stack.
 */
export async function readStackOutputs(
  flags: StackFlags,
  needs: readonly Need[] = [],
  environment: NodeJS.ProcessEnv = process.env,
): Promise<Partial<StackFlags>> {
  const name = flags.stack ?? environment.CERTKEEPER_STACK;
  if (!name) return {};
  const wanted = OUTPUTS.filter((o) => !flags[o.key] && (!o.need || needs.includes(o.need)));
  if (wanted.length === 0) return {};
  const region = flags.region ?? environment.AWS_REGION;
  // Loaded only here: commands run without --stack do not pay for the CloudFormation client.
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const client = new CloudFormationClient(region ? { region } : {});
  const missing = () =>
    new ValidationError(
      '--stack',
      `stack "${name}" does not exist${region ? ` in ${region}` : ''}`,
      'check the name and --region (`aws cloudformation describe-stacks --query "Stacks[].StackName"`), or pass --bucket and --table instead',
    );
  let stacks;
  try {
    stacks = (await client.send(new DescribeStacksCommand({ StackName: name }))).Stacks;
  } catch (err) {
    // CloudFormation answers an unknown name with ValidationError "Stack with id X does not exist".
    if ((err as { name?: string }).name === 'ValidationError') throw missing();
    throw err;
  } finally {
    client.destroy();
  }
  const stack = stacks?.[0];
  if (!stack) throw missing();
  const outputs = new Map((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  const found: Partial<StackFlags> = {};
  for (const { output, key } of wanted) {
    const value = outputs.get(output);
    if (!value) {
      const flag = SOURCES.find((s) => s.key === key)!;
      throw new ValidationError(
        '--stack',
        `stack "${name}" has no output ${output}`,
        `deploy certkeeper's stack (infra/stack.ts) under that name, or pass ${flag.flag}`,
      );
    }
    found[key] = value;
  }
  return found;
}

/** What `add` and `remove` say about writing the inventory that a deploy also writes. */
export const DECLARATIVE_NOTE = `
The config file and a deploy are the declarative source of the inventory: these commands
write the inventory directly, and the next deploy retires every certificate that is not in
certkeeper.config.json (and brings back the ones that are). Add the certificate to the
config as well to keep it.`;

export const STACK_HELP = `
Finding the stack:
  With --stack NAME (or CERTKEEPER_STACK), the deployed stack's CloudFormation outputs
  (BucketName, TableName, IssuerQueueUrl, EventsTopicArn, FleetTableName,
  AgentEnrolmentUrl) fill in --bucket, --table, --queue-url, --topic-arn, --fleet-table and
  --enrol-url; flags given explicitly win. Otherwise each stack flag falls back to the
  variable the Lambdas read (CERTKEEPER_BUCKET, CERTKEEPER_TABLE, CERTKEEPER_QUEUE_URL,
  CERTKEEPER_TOPIC_ARN, CERTKEEPER_FLEET_TABLE, CERTKEEPER_ENROL_URL,
  CERTKEEPER_DIRECTORY_URL, AWS_REGION).
  AWS credentials and endpoints come from the SDK's usual sources (AWS_PROFILE, AWS_ENDPOINT_URL*, ...); CERTKEEPER_S3_FORCE_PATH_STYLE=true for S3 stand-ins.`;

/** `fleet` only when the command asked for 'fleet', `enrolment` only for 'enrol'. */
export interface OperatorContext extends OperatorAgentParts {
  runtime: IssuerRuntime;
  clock: Clock;
  inventory: Inventory;
  store: CertificateStore;
  bucket: string;
  /** The issuer queue; only when the command asked for 'queue'. */
  queue(): WorkQueue;
  /** The events topic's publisher; only meaningful when the command asked for 'topic'. */
  events: EventPublisher;
  /** The stack's CAs, preferred first, with its accounts; only usable when the command asked for 'ca'. */
  authorities: readonly Authority[];
}

/**
 * Resolves the stack from flags and environment and composes the Lambdas' runtime for it.
 * A missing setting is a usage error naming both the flag and the variable, thrown before
 * anything is read or written. The runtime (the AWS SDK clients) is loaded here, not when a
 * command module is: local mode (`renew --out`, `list --out`) and --help never need it.
 */
export async function connect(
  flags: StackFlags,
  needs: readonly Need[] = [],
  environment: NodeJS.ProcessEnv = process.env,
): Promise<OperatorContext> {
  const env: NodeJS.ProcessEnv = { ...environment };
  for (const source of SOURCES) {
    const value = flags[source.key] ?? environment[source.env];
    const required = source.key === 'bucket' || source.key === 'table' || needs.includes(source.need!);
    // The CA by name as the config and local mode take it (letsencrypt, letsencrypt-staging).
    if (value) env[source.env] = source.key === 'directoryUrl' ? caDirectoryUrl(value) : value;
    else if (required) {
      throw new ValidationError(
        flagName(source),
        `${source.help} is not known`,
        `pass ${source.flag} or set ${source.env}`,
      );
    }
  }
  if (!needs.includes('ca') && !env.CERTKEEPER_DIRECTORY_URL)
    env.CERTKEEPER_DIRECTORY_URL = UNUSED_DIRECTORY_URL;
  // The Lambdas' logger writes JSON lines; a person at a terminal wants only warnings
  // (which Powertools sends to stderr, keeping stdout for results and --json).
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  const [{ buildIssuerRuntime }, { operatorAgentParts }] = await Promise.all([
    import('../composition/aws-issuer.js'),
    import('../composition/operator-agents.js'),
  ]);
  const runtime = buildIssuerRuntime(env);
  const agents = await operatorAgentParts(env, runtime.clock);
  return {
    runtime,
    ...agents,
    clock: runtime.clock,
    inventory: runtime.inventory,
    store: runtime.renewDeps.store,
    bucket: runtime.env.CERTKEEPER_BUCKET,
    queue: () => runtime.queue(),
    events: runtime.renewDeps.events,
    authorities: runtime.renewDeps.authorities,
  };
}

/** The certificate's record, or a usage error (exit 2) saying how to see what exists. */
export async function requireRecord(inventory: Inventory, name: string): Promise<InventoryRecord> {
  const record = await inventory.get(name);
  if (!record) {
    throw new NotFoundError(
      `certificate "${name}" is not in the inventory`,
      'run `certkeeper list` to see the declared certificates',
    );
  }
  return record;
}

/**
 * Failures that are not the operator's usage: the CA or AWS out of reach (3), and a CA that
 * refused the request or stored files that fail their check (1: something needs attention).
 */
const RUNTIME_EXITS: Partial<Record<string, number>> = {
  unreachable: EXIT.unreachable,
  'retry-later': EXIT.unreachable,
  'acme-problem': EXIT.attention,
  integrity: EXIT.attention,
};

/**
 * Runs a command's work and turns what it throws into the documented exit codes: an
 * unreachable AWS endpoint or CA is 3, a refusal or a failed integrity check 1; everything else propagates to cli/main.ts, which
 * prints it and exits 2 (bad usage or configuration, nothing written).
 */
export function action<A extends unknown[]>(
  work: (...args: A) => Promise<number>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      process.exitCode = await work(...args);
    } catch (err) {
      if (err instanceof CertkeeperError && err.code in RUNTIME_EXITS) {
        process.stderr.write(`certkeeper: ${terminalSafe(err.describe())}\n`);
        process.exitCode = RUNTIME_EXITS[err.code]!;
        return;
      }
      throw err;
    }
  };
}

/**
 * The certificate's current files, read from the bucket and checked against the sha256s
 * in its manifest before anyone uses them: a tampered or half-replaced object must not be
 * revoked, exported or installed. Throws NotFound (no certificate yet) or Integrity.
 */
export async function readCurrent<F extends BundleFile>(
  store: CertificateStore,
  name: string,
  files: readonly F[],
): Promise<{ manifest: Manifest; files: Record<F, string> }> {
  const manifest = await store.getManifest(name);
  if (!manifest) {
    throw new NotFoundError(
      `certificate "${name}" has no current certificate in ${store.location}`,
      `it has not been issued yet: see \`certkeeper status ${name}\``,
    );
  }
  const read = await Promise.all(
    files.map(async (file): Promise<[F, string]> => {
      const entry = manifest.files[file];
      const text = await store.readFile(entry.key);
      if (sha256Hex(text) !== entry.sha256) {
        throw new IntegrityError(
          `${store.location}: ${entry.key} does not match the sha256 in the manifest (${entry.sha256})`,
          'do not use it; renew the certificate (`certkeeper renew NAME --force`) and find out who changed the object',
        );
      }
      return [file, text];
    }),
  );
  return { manifest, files: Object.fromEntries(read) as Record<F, string> };
}
