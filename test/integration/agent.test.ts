/**
 * The agent against the stand-in stack on moto: S3 for manifests, bundles and HTTP-01 tokens,
 * and the events topic delivering to an SQS queue (the stack's events tap, raw delivery) as
 * the agent's queue. The clients come from the environment, as on a server
 * (AWS_ENDPOINT_URL and CERTKEEPER_S3_FORCE_PATH_STYLE, set by useStandInStack).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, AddressInUseError, createAgent, startAgentHttp01 } from '../../agent/agent.js';
import { parseAgentConfig } from '../../agent/config.js';
import { SnsPublisher } from '../../shared/events/sns.js';
import { http01Key } from '../../shared/store/layout.js';
import { S3CertificateStore, S3ObjectStore } from '../../shared/store/s3-store.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { useStandInStack } from '../../scripts/test-kit/stack.js';
import { createTestCa, type IssuedBundle, type TestCa } from '../support/test-ca.js';
import { recordingLog } from '../support/agent-host.js';

const IDS = ['agent-int.example.test', '127.0.0.1'];

let stack: StandInStack;
let ca: TestCa;
let store: S3CertificateStore;
let objects: S3ObjectStore;

beforeAll(async () => {
  stack = await useStandInStack('agent-int');
  ca = await createTestCa();
  store = new S3CertificateStore(stack.clients.s3, { bucket: stack.bucket, kmsKeyId: stack.kmsKeyId });
  objects = new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket });
});

afterAll(() => stack.clients.s3.destroy());

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

describe('the agent on its queue', () => {
  let agent: Agent;
  let running: Promise<void>;
  const stop = new AbortController();
  const logs: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'certkeeper-agent-int-'));
  const fullchain = join(dir, 'fullchain.pem');
  const reloads = join(dir, 'reloads.log');

  beforeAll(() => {
    writeFileSync(join(dir, 'root.pem'), ca.rootPem);
    const config = parseAgentConfig(
      {
        bucket: stack.bucket,
        queueUrl: stack.tapQueueUrl,
        // An hour: within this test only events can make the agent act after its first check.
        pollIntervalSeconds: 3600,
        trustedCaFile: 'root.pem',
        stateFile: 'state.json',
        certificates: { 'agent-int': { fullchain: 'fullchain.pem', key: 'privkey.pem' } },
        reload: { commands: [`echo "$CERTKEEPER_SERIAL" >> '${reloads}'`] },
      },
      'integration config',
      dir,
    );
    agent = createAgent(config, { log: recordingLog(logs) });
    running = agent.run({ signal: stop.signal });
  });

  afterAll(async () => {
    stop.abort();
    await running;
  });

  const publish = async (issued: IssuedBundle, certificate = 'agent-int'): Promise<void> => {
    await store.putBundle(certificate, issued.serial, issued.bundle, issued.meta);
    await new SnsPublisher(stack.clients.sns, { topicArn: stack.topicArn }).publish({
      type: 'certificate.renewed',
      certificate,
      identifiers: IDS,
      serial: issued.serial,
      at: new Date().toISOString(),
    });
  };

  const installed = (): string | undefined => {
    try {
      return readFileSync(fullchain, 'utf8');
    } catch {
      return undefined;
    }
  };

  const queueDepth = async (): Promise<number> => {
    const { Attributes } = await stack.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.tapQueueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(Attributes?.ApproximateNumberOfMessages) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible)
    );
  };

  it('installs a certificate as soon as its event arrives, and the next one on the next event', async () => {
    // The first check found nothing issued yet.
    await until('the first check', () => logs.some((l) => /certificate agent-int: error/.test(l)));
    const first = await ca.issue({ identifiers: IDS });
    await publish(first);
    await until('the first serial on disk', () => installed() === first.bundle.fullchain);

    const second = await ca.issue({ identifiers: IDS });
    await publish(second);
    await until('the second serial on disk', () => installed() === second.bundle.fullchain);
    // The files are in place just before the reload command runs: wait for its line.
    const reloaded = () => readFileSync(reloads, 'utf8').split('\n').filter(Boolean);
    await until('the second reload', () => reloaded().length >= 2);
    expect(reloaded()).toEqual([first.serial, second.serial]);
    await until('the queue to drain', async () => (await queueDepth()) === 0);
  });

  it('deletes malformed messages and events for other certificates without acting on them', async () => {
    const before = installed();
    await stack.clients.sqs.send(
      new SendMessageCommand({ QueueUrl: stack.tapQueueUrl, MessageBody: 'not an event' }),
    );
    await publish(await ca.issue({ identifiers: ['other.example.test'] }), 'someone-else');
    await until('the queue to drain', async () => (await queueDepth()) === 0);
    expect(logs.some((l) => /WARN deleting a malformed queue message .*is not JSON/.test(l))).toBe(true);
    expect(installed()).toBe(before);

    // And it still answers the next event of its own.
    const third = await ca.issue({ identifiers: IDS });
    await publish(third);
    await until('the third serial on disk', () => installed() === third.bundle.fullchain);
  });

  it('stops promptly when aborted in the middle of a long poll', async () => {
    const started = Date.now();
    stop.abort();
    await running;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(logs.at(-1)).toMatch(/INFO agent stopped/);
  });
});

describe('the HTTP-01 responder', () => {
  it('serves a token from the bucket at /.well-known/acme-challenge/ and nothing else', async () => {
    const responder = await startAgentHttp01({ http01Listen: { host: '127.0.0.1', port: 0 } }, objects);
    try {
      const base = `http://127.0.0.1:${responder.address.port}`;
      const token = `agentint${Date.now().toString(36)}abcdefghij`;
      await objects.put(http01Key(token), `${token}.thumbprint`);
      const res = await fetch(`${base}/.well-known/acme-challenge/${token}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`${token}.thumbprint`);
      expect((await fetch(`${base}/.well-known/acme-challenge/${token}x`)).status).toBe(404);
      expect((await fetch(`${base}/certificates/agent-int/current.json`)).status).toBe(404);
      expect((await fetch(`${base}/`)).status).toBe(404);
    } finally {
      await responder.close();
    }
  });

  it('with its port taken, says how to run behind nginx or Caddy on another port', async () => {
    const holder: Server = createServer();
    await new Promise<void>((done) => holder.listen(0, '127.0.0.1', done));
    const port = (holder.address() as { port: number }).port;
    try {
      const error = await startAgentHttp01({ http01Listen: { host: '127.0.0.1', port } }, objects).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(AddressInUseError);
      const text = (error as AddressInUseError).describe();
      expect(text).toContain(`http01Listen: 127.0.0.1:${port} is already in use`);
      expect(text).toContain('location /.well-known/acme-challenge/ { proxy_pass http://127.0.0.1:8402; }');
      expect(text).toContain('handle /.well-known/acme-challenge/* { reverse_proxy 127.0.0.1:8402 }');
      expect(text).toContain('"http01Listen": "127.0.0.1:8402"');
    } finally {
      await new Promise((done) => holder.close(done));
    }
  });
});
