/**
 * The Lambda bundles as they are deployed: each `index.mjs` alone in a directory with no
 * node_modules anywhere above it, imported by a plain `node` child process (no tsx, no
 * loaders, a bare environment) and run on a dry event against a stand-in stack on the peers.
 * This catches what the source-level tests cannot: a dependency left out of the bundle, a
 * CommonJS `require` with nothing to resolve it, a stand-in (infra/bundle.ts) that broke
 * what it replaced, a bundle that only loads on Node 22.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { SNSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_BUDGET_BYTES, BUNDLE_FILE, type BuiltLambda, buildLambdas, kb } from '../../infra/bundle.js';
import {
  customResourceEvent,
  receiveAll,
  scheduledEvent,
  sqsEvent,
} from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { createTable } from '../../shared/dynamo/table.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import type { CertificateEvent } from '../../shared/model/event.js';
import { uniqueName } from '../../scripts/test-kit/peers.js';
import { useStandInStack } from '../../scripts/test-kit/stack.js';

const ZONE = 'bundles.test';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Runs in the child: imports the bundle and, given an event (argv, JSON), calls its handler
 * with it; without one it reports what `handler` is. The outcome is the last line of stdout
 * (the handlers' Powertools logs may come before it).
 */
const RUNNER = `
const [name, event] = process.argv.slice(1);
const context = { functionName: name, awsRequestId: crypto.randomUUID(), getRemainingTimeInMillis: () => 60000 };
let outcome;
try {
  const { handler } = await import('./${BUNDLE_FILE}');
  const result = event === undefined ? typeof handler : await handler(JSON.parse(event), context);
  outcome = { ok: true, result: result ?? null };
} catch (err) {
  outcome = { ok: false, error: String(err?.stack ?? err) };
}
process.stdout.write('\\n' + JSON.stringify(outcome) + '\\n');
`;

interface ChildRun {
  outcome: { ok: true; result: unknown } | { ok: false; error: string };
  /** The JSON log lines the handler wrote (Powertools Logger), from stdout and stderr. */
  logs: Record<string, unknown>[];
  output: string;
}

let stack: StandInStack;
let outDir: string;
const built = new Map<string, BuiltLambda>();
const scratch: string[] = [];

/** A fresh directory outside the repository with no node_modules on the way up to `/`. */
async function isolatedDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  scratch.push(dir);
  expect(path.relative(ROOT, dir).startsWith('..'), `${dir} is inside the repository`).toBe(true);
  for (let up = dir; ; up = path.dirname(up)) {
    expect(existsSync(path.join(up, 'node_modules')), `${up}/node_modules would resolve packages`).toBe(
      false,
    );
    if (path.dirname(up) === up) break;
  }
  return dir;
}

/** Runs bundle `name` in a child process; with `event` undefined it only loads it. */
async function runBundle(name: string, event?: unknown, env: Record<string, string> = {}): Promise<ChildRun> {
  const lambda = built.get(name)!;
  const dir = await isolatedDir(`certkeeper-${name}-`);
  await copyFile(lambda.file, path.join(dir, BUNDLE_FILE));
  const [stdout, stderr] = await new Promise<[string, string]>((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', RUNNER, name, ...(event === undefined ? [] : [JSON.stringify(event)])],
      {
        cwd: dir,
        // What Lambda gives a function: its configuration and credentials, nothing of this
        // process (no NODE_OPTIONS loaders, no NODE_PATH).
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          ...stack.env,
          POWERTOOLS_METRICS_DISABLED: 'true',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          ...env,
        },
        timeout: 45_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, out, err) => resolve([out, `${err}${error && !out ? String(error) : ''}`]),
    );
  });
  // Warnings (the AWS SDK's about Node 20, say) go to stderr, after or between log lines.
  const output = `${stdout}${stderr}`;
  const lines = stdout.trim().split('\n');
  const last = lines.at(-1) ?? '';
  const outcome = (
    last.startsWith('{"ok":') ? JSON.parse(last) : { ok: false, error: output }
  ) as ChildRun['outcome'];
  // Powertools writes warnings and errors to stderr, the rest to stdout.
  const logs = [...lines.slice(0, -1), ...stderr.split('\n')].flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
  return { outcome, logs, output };
}

function result(run: ChildRun): unknown {
  expect(run.outcome, run.output).toMatchObject({ ok: true });
  return (run.outcome as { result: unknown }).result;
}

/** SNS -> Lambda, one record carrying `message` as the SnsPublisher writes it. */
function snsEvent(topicArn: string, message: CertificateEvent): SNSEvent {
  const attribute = (Value: string) => ({ Type: 'String', Value });
  return {
    Records: [
      {
        EventSource: 'aws:sns',
        EventVersion: '1.0',
        EventSubscriptionArn: `${topicArn}:${crypto.randomUUID()}`,
        Sns: {
          Type: 'Notification',
          MessageId: crypto.randomUUID(),
          TopicArn: topicArn,
          Subject: '',
          Message: JSON.stringify(message),
          Timestamp: new Date().toISOString(),
          SignatureVersion: '1',
          Signature: '',
          SigningCertUrl: '',
          UnsubscribeUrl: '',
          MessageAttributes: { type: attribute(message.type), certificate: attribute(message.certificate) },
        },
      },
    ],
  };
}

const hasFunction = (name: string) => existsSync(path.join(ROOT, 'functions', `${name}.ts`));

beforeAll(async () => {
  stack = await useStandInStack('bundles', [ZONE]);
  outDir = await mkdtemp(path.join(tmpdir(), 'certkeeper-build-'));
  for (const lambda of await buildLambdas({ outDir })) built.set(lambda.name, lambda);
});

afterAll(async () => {
  await Promise.all([outDir, ...scratch].filter(Boolean).map((d) => rm(d, { recursive: true, force: true })));
});

describe('Lambda bundles', () => {
  it('builds the scheduler and the issuer, each under the size budget', () => {
    expect([...built.keys()]).toEqual(expect.arrayContaining(['issuer', 'scheduler']));
    for (const lambda of built.values()) {
      expect(lambda.file).toBe(path.join(outDir, lambda.name, BUNDLE_FILE));
      expect(lambda.bytes, `${lambda.name}: ${kb(lambda.bytes)}`).toBeLessThan(BUNDLE_BUDGET_BYTES);
    }
  });

  it('every bundle loads with no node_modules and exports a handler', async () => {
    // Also the Lambdas without a dry event below (one added later, say).
    for (const name of built.keys()) {
      expect(result(await runBundle(name)), name).toBe('function');
    }
  });

  it('scheduler: an EventBridge tick on an empty inventory checks nothing', async () => {
    const out = result(await runBundle('scheduler', scheduledEvent()));
    expect(out).toEqual({ checked: 0, itemsRead: 0, enqueued: [] });
  });

  it('issuer: a malformed SQS message is reported as a batch item failure', async () => {
    const event = sqsEvent([{ MessageId: 'malformed-1', Body: '{"certificate": "Not A Name!"}' }]);
    const run = await runBundle('issuer', event);
    expect(result(run)).toEqual({ batchItemFailures: [{ itemIdentifier: 'malformed-1' }] });
    // Rejected by the real parser (shared/queue), which names the field.
    expect(run.logs).toContainEqual(
      expect.objectContaining({
        message: 'message not processed',
        messageId: 'malformed-1',
        error: expect.stringContaining('message.certificate'),
      }),
    );
  });

  it('issuer: issues a certificate through Pebble (dns-01), acme-client, S3 and SNS', async () => {
    // Not a dry run: the path through the modules infra/bundle.ts replaces or trims (axios's
    // module build, the credentials chain, the SDK's schema tables). Its own table keeps the
    // scheduler's inventory empty.
    const table = uniqueName('bundle-issue').slice(0, 40);
    await createTable(stack.clients.dynamodb, table);
    const inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: table });
    await declareCertificate(inventory, { name: 'bundled', identifiers: [`www.${ZONE}`] });
    const event = sqsEvent([{ MessageId: 'issue-1', Body: JSON.stringify({ certificate: 'bundled' }) }]);
    const run = await runBundle('issuer', event, { CERTKEEPER_TABLE: table });
    expect(result(run)).toEqual({ batchItemFailures: [] });
    expect(run.logs, run.output).toContainEqual(
      expect.objectContaining({ message: 'renewal outcome', status: 'issued', name: 'bundled' }),
    );
    const manifest = await stack.clients.s3.send(
      new GetObjectCommand({ Bucket: stack.bucket, Key: 'certificates/bundled/current.json' }),
    );
    expect(JSON.parse(await manifest.Body!.transformToString())).toMatchObject({ name: 'bundled' });
    const events = (await receiveAll(stack.clients.sqs, stack.tapQueueUrl)).map(
      (m) => JSON.parse(m.Body!) as CertificateEvent,
    );
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'certificate.issued', certificate: 'bundled' }),
    );
  });

  it.skipIf(!hasFunction('notifier'))('notifier: a certificate.renewed event is not forwarded', async () => {
    // The notifier refuses to start with no target at all (alerts would vanish), so one is
    // configured: the stack's topic as the email target. certificate.renewed is not among
    // the default forwarded types, so nothing is sent to it and the handler resolves.
    const event = snsEvent(stack.topicArn, {
      type: 'certificate.renewed',
      certificate: 'web-1',
      identifiers: ['203.0.113.10'],
      status: 'valid',
      serial: '0a1b2c',
      notAfter: new Date(Date.now() + 6 * 86_400_000).toISOString(),
      at: new Date().toISOString(),
    });
    const run = await runBundle('notifier', event, { CERTKEEPER_NOTIFICATIONS_TOPIC_ARN: stack.topicArn });
    expect(result(run)).toBeNull();
    expect(run.logs).toContainEqual(
      expect.objectContaining({ message: 'notification', status: 'ignored', type: 'certificate.renewed' }),
    );
  });

  it.skipIf(!hasFunction('inventory-sync'))(
    'inventory-sync: a deploy declares the configured certificate',
    async () => {
      // A table of its own, so the scheduler's empty inventory stays empty.
      const table = uniqueName('bundle-sync').slice(0, 40);
      await createTable(stack.clients.dynamodb, table);
      const event = customResourceEvent('Create', [{ name: 'web-1', identifiers: ['203.0.113.10'] }]);
      const out = result(await runBundle('inventory-sync', event, { CERTKEEPER_TABLE: table }));
      expect(out).toEqual({
        PhysicalResourceId: 'certkeeper-inventory',
        Data: { Declared: 1, Revived: 0, Retired: 0, Agents: 0 },
      });
    },
  );
});
