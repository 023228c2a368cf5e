/**
 * How an operator command finds the deployed stack: flags first, then the environment
 * variables the Lambdas read (CERTKEEPER_*), with the user's own AWS credentials and the
 * SDK's AWS_ENDPOINT_URL* variables. The composition itself is the Lambdas' own
 * (functions/issuer-runtime.ts), so the CLI talks to the inventory, bucket, queue, topic
 * and CA exactly as the issuer does.
 */
import type { Command } from 'commander';
import { buildIssuerRuntime, type IssuerRuntime } from '../functions/issuer-runtime.js';
import type { CertificateAuthority } from '../shared/acme/ca.js';
import type { EventPublisher } from '../shared/events/publisher.js';
import type { Inventory } from '../shared/inventory/inventory.js';
import type { Clock } from '../shared/model/clock.js';
import { CertkeeperError, IntegrityError, NotFoundError, ValidationError } from '../shared/model/errors.js';
import type { InventoryRecord } from '../shared/model/state.js';
import type { WorkQueue } from '../shared/queue/queue.js';
import { sha256Hex } from '../shared/pki/hash.js';
import type { BundleFile } from '../shared/store/keys.js';
import type { CertificateStore, Manifest } from '../shared/store/store.js';
import { EXIT } from './output.js';

/** The stack flags every operator command accepts (commander's camel-cased names). */
export interface StackFlags {
  bucket?: string;
  table?: string;
  region?: string;
  queueUrl?: string;
  topicArn?: string;
  directoryUrl?: string;
}

/** What a command needs beyond the inventory and the bucket, which all of them read. */
export type Need = 'queue' | 'topic' | 'ca';

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
    help: 'the ACME directory the certificates came from',
    need: 'ca',
  },
];

const flagName = (s: Source) => s.flag.split(' ')[0]!;

/**
 * The runtime's schema insists on a directory URL because the issuer cannot work without
 * one; commands that never talk to the CA (list, status, export, ...) should not make the
 * operator look it up, so they get this address, which cannot resolve (RFC 6761 .invalid).
 */
const UNUSED_DIRECTORY_URL = 'https://acme.invalid/directory';

/** Adds the stack flags a command needs, naming the environment variable each falls back to. */
export function stackOptions(command: Command, needs: readonly Need[] = []): Command {
  for (const source of SOURCES) {
    if (source.need && !needs.includes(source.need)) continue;
    command.option(source.flag, `${source.help} (default: $${source.env})`);
  }
  return command;
}

export const STACK_HELP = `
Finding the stack:
  Each stack flag falls back to the variable the Lambdas read (CERTKEEPER_BUCKET,
  CERTKEEPER_TABLE, CERTKEEPER_QUEUE_URL, CERTKEEPER_TOPIC_ARN, CERTKEEPER_DIRECTORY_URL,
  AWS_REGION). AWS credentials and endpoints come from the SDK's usual sources
  (AWS_PROFILE, AWS_ENDPOINT_URL*, ...); CERTKEEPER_S3_FORCE_PATH_STYLE=true for S3 stand-ins.`;

export interface OperatorContext {
  runtime: IssuerRuntime;
  clock: Clock;
  inventory: Inventory;
  store: CertificateStore;
  bucket: string;
  /** The issuer queue; only when the command asked for 'queue'. */
  queue(): WorkQueue;
  /** The events topic's publisher; only meaningful when the command asked for 'topic'. */
  events: EventPublisher;
  /** The ACME CA with the stack's account; only usable when the command asked for 'ca'. */
  ca: CertificateAuthority;
}

/**
 * Resolves the stack from flags and environment and composes the Lambdas' runtime for it.
 * A missing setting is a usage error naming both the flag and the variable, thrown before
 * anything is read or written.
 */
export function connect(
  flags: StackFlags,
  needs: readonly Need[] = [],
  environment: NodeJS.ProcessEnv = process.env,
): OperatorContext {
  const env: NodeJS.ProcessEnv = { ...environment };
  for (const source of SOURCES) {
    const value = flags[source.key] ?? environment[source.env];
    const required = source.key === 'bucket' || source.key === 'table' || needs.includes(source.need!);
    if (value) env[source.env] = value;
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
  const runtime = buildIssuerRuntime(env);
  return {
    runtime,
    clock: runtime.clock,
    inventory: runtime.inventory,
    store: runtime.renewDeps.store,
    bucket: runtime.env.CERTKEEPER_BUCKET,
    queue: () => runtime.queue(),
    events: runtime.renewDeps.events,
    ca: runtime.renewDeps.ca,
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
        process.stderr.write(`certkeeper: ${err.describe()}\n`);
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
