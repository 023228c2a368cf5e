/**
 * A certificate's life through the operator commands, each a child process against a local
 * stack and Pebble: `renew --wait` while this process plays the issuer Lambda on the
 * messages the CLI queued, `status` with the manifest, `export` as PEM and PKCS#12, and
 * `revoke` (Pebble reports the serial revoked, the event goes out, a reissue is set).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as issuer } from '../../functions/issuer.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import type { CertificateEvent } from '../../shared/model/event.js';
import { sha256Hex } from '../../shared/pki/hash.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import type { Manifest } from '../../shared/store/store.js';
import { receiveAll, sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { pebbleGet } from '../../scripts/test-kit/peers.js';
import { serveHttp01OnPebblePort, useStandInStack } from '../../scripts/test-kit/stack.js';
import { certkeeper, json, type Run, start } from '../../scripts/test-kit/operator.js';

let stack: StandInStack;
let inventory: DynamoInventory;
const run = (...args: string[]) => certkeeper(args, stack.env);

beforeAll(async () => {
  stack = await useStandInStack('cli-life');
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  await declareCertificate(inventory, { name: 'edge', identifiers: ['127.0.0.1'] });
});

afterAll(() => stack.clients.s3.destroy());

/** The request a `renew` queues: its id (what the issuer honours once) and when it was made. */
const queuedRequest = { id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), at: expect.any(String) };

/**
 * The issuer Lambda's part while a `renew --wait` child runs: wait for the message it
 * queued, hand it to the real handler (serving http-01 when asked), delete it.
 */
async function issueWhatTheCliQueued(serveHttp01: boolean): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 60_000;
  let messages = await receiveAll(stack.clients.sqs, stack.queueUrl);
  while (messages.length === 0) {
    if (Date.now() > deadline) throw new Error('the CLI queued nothing');
    await new Promise((done) => setTimeout(done, 250));
    messages = await receiveAll(stack.clients.sqs, stack.queueUrl);
  }
  const responder = serveHttp01
    ? await serveHttp01OnPebblePort(new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket }))
    : undefined;
  try {
    const response = await issuer(sqsEvent(messages));
    expect(response.batchItemFailures).toEqual([]);
  } finally {
    await responder?.close();
  }
  for (const m of messages) {
    await stack.clients.sqs.send(
      new DeleteMessageCommand({ QueueUrl: stack.queueUrl, ReceiptHandle: m.ReceiptHandle! }),
    );
  }
  return messages.map((m) => JSON.parse(m.Body!) as Record<string, unknown>);
}

async function renewWaiting(
  args: string[],
  serveHttp01: boolean,
): Promise<{ run: Run; queued: Record<string, unknown>[] }> {
  const child = start(['renew', ...args], stack.env);
  const [queued, result] = await Promise.all([issueWhatTheCliQueued(serveHttp01), child.done]);
  return { run: result, queued };
}

const manifestOf = async (): Promise<Manifest> =>
  JSON.parse(
    (await new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket }).get(
      'certificates/edge/current.json',
    ))!,
  ) as Manifest;

describe('certkeeper renew', () => {
  it('--wait reports the failure the issuer recorded, with its ACME problem, and exits 1', async () => {
    // Nobody answers http-01 for this attempt (or another test file's responder does, with
    // a 404): Pebble's validation fails and the issuer records the problem.
    const { run: result, queued } = await renewWaiting(
      ['edge', '--wait', '--timeout', '90s', '--json'],
      false,
    );
    expect(queued).toEqual([{ certificate: 'edge', reason: 'manual', force: false, request: queuedRequest }]);
    expect(result.code).toBe(1);
    const body = json(result);
    expect(body).toMatchObject({
      certificate: 'edge',
      queued: true,
      force: false,
      due: 'missing',
      outcome: 'failed',
      attempts: 1,
      error: { code: 'acme-problem', type: expect.stringMatching(/^urn:ietf:params:acme:error:/) },
    });
  });

  it('--wait --force follows the attempt to the new serial and exits 0', async () => {
    const { run: result, queued } = await renewWaiting(
      ['edge', '--force', '--wait', '--timeout', '90s'],
      true,
    );
    expect(queued).toEqual([{ certificate: 'edge', reason: 'manual', force: true, request: queuedRequest }]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const serial = (await inventory.get('edge'))!.state.current!.serial;
    expect(result.stdout).toMatch(new RegExp(`^renewed edge: serial ${serial}, valid until \\S+\\n$`));
  });

  it('without --wait only queues, and says when it is not due', async () => {
    const result = await run('renew', 'edge', '--json');
    expect(result.code).toBe(0);
    expect(json(result)).toEqual({
      certificate: 'edge',
      queued: true,
      requestId: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      force: false,
      due: null,
      requestedAt: expect.any(String),
    });
    const human = await run('renew', 'edge');
    expect(human.stdout).toContain('it is not due: the issuer will only poll ARI and leave it; add --force');
    await receiveAll(stack.clients.sqs, stack.queueUrl); // drained: later tests count messages
  });

  it('--wait on a certificate that is not due is a usage error and queues nothing', async () => {
    const result = await run('renew', 'edge', '--wait');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^certkeeper: --wait: "edge" is not due .*Fix: add --force to renew it now\n$/,
    );
  });
});

describe('certkeeper status with a certificate in place', () => {
  it('shows the manifest from the bucket: serial, validity, sha256s', async () => {
    const manifest = await manifestOf();
    const result = await run('status', 'edge');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^edge: valid\n/);
    expect(result.stdout).toContain(`serial         ${manifest.serial}`);
    expect(result.stdout).toContain(`privkey      sha256 ${manifest.files.privkey.sha256}`);
    expect(result.stdout).not.toContain('PRIVATE KEY');
    const body = json(await run('status', 'edge', '--json'));
    expect(body).toMatchObject({ status: 'valid', serial: manifest.serial, attempts: 0, manifest });
  });
});

describe('certkeeper export', () => {
  it('writes the PEM files, the key 0600, after checking them against the manifest', async () => {
    const manifest = await manifestOf();
    const dir = join(mkdtempSync(join(tmpdir(), 'certkeeper-export-')), 'out');
    const result = await run('export', 'edge', '--out', dir, '--json');
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('PRIVATE KEY');
    const body = json<{ files: { path: string; mode: string; sha256: string }[] }>(result);
    expect(body).toMatchObject({ certificate: 'edge', serial: manifest.serial, format: 'pem' });
    expect(body.files.map((f) => f.path)).toEqual(
      ['fullchain.pem', 'cert.pem', 'chain.pem', 'privkey.pem'].map((f) => join(dir, f)),
    );
    for (const [file, name] of [
      ['cert', 'cert.pem'],
      ['chain', 'chain.pem'],
      ['fullchain', 'fullchain.pem'],
      ['privkey', 'privkey.pem'],
    ] as const) {
      expect(sha256Hex(readFileSync(join(dir, name), 'utf8'))).toBe(manifest.files[file].sha256);
    }
    expect(statSync(join(dir, 'privkey.pem')).mode & 0o777).toBe(0o600);
    expect(new X509Certificate(readFileSync(join(dir, 'cert.pem'))).serialNumber.toLowerCase()).toBe(
      manifest.serial.toLowerCase(),
    );
  });

  it('writes a PKCS#12 file that openssl opens with the password from the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'certkeeper-pfx-'));
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, 'correct horse\n');
    const result = await run(
      'export',
      'edge',
      '--out',
      dir,
      '--format',
      'pfx',
      '--password-file',
      passwordFile,
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const pfx = join(dir, 'edge.pfx');
    expect(statSync(pfx).mode & 0o777).toBe(0o600);
    const info = execFileSync(
      'openssl',
      ['pkcs12', '-info', '-nokeys', '-in', pfx, '-passin', 'pass:correct horse'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    expect(info).toContain('friendlyName: edge');
    expect(info).toContain('subject=');
  });

  it('warns about an empty PKCS#12 password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'certkeeper-pfx-'));
    const result = await run('export', 'edge', '--out', dir, '--format', 'pfx');
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: edge\.pfx has an empty password/);
    execFileSync(
      'openssl',
      ['pkcs12', '-info', '-nokeys', '-in', join(dir, 'edge.pfx'), '-passin', 'pass:'],
      {
        stdio: 'ignore',
      },
    );
  });

  it('refuses --password-file without --format pfx, writing nothing', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'certkeeper-export-')), 'out');
    const result = await run('export', 'edge', '--out', dir, '--password-file', '/etc/hostname');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^certkeeper: --password-file: applies to --format pfx only/);
    expect(() => statSync(dir)).toThrow();
  });
});

describe('certkeeper revoke', () => {
  it('revokes at the CA, publishes certificate.revoked and sets a reissue', async () => {
    const manifest = await manifestOf();
    await receiveAll(stack.clients.sqs, stack.tapQueueUrl); // earlier events
    const result = await run('revoke', 'edge', '--reason', 'keyCompromise', '--json');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(json(result)).toEqual({
      certificate: 'edge',
      revoked: true,
      serial: manifest.serial,
      reason: 'keyCompromise',
      reissue: true,
      at: expect.any(String),
    });

    const status = await pebbleGet(`/cert-status-by-serial/${manifest.serial}`);
    expect(status.status).toBe(200);
    expect(JSON.parse(status.body)).toMatchObject({ Status: 'Revoked' });

    const events = (await receiveAll(stack.clients.sqs, stack.tapQueueUrl)).map(
      (m) => JSON.parse(m.Body!) as CertificateEvent,
    );
    expect(events).toEqual([
      expect.objectContaining({ type: 'certificate.revoked', certificate: 'edge', serial: manifest.serial }),
    ]);
    const state = (await inventory.get('edge'))!.state;
    expect(state.reissue).toBe(true);
    expect(Date.parse(state.dueAt!)).toBeLessThanOrEqual(Date.now());
  });

  it('a second revoke is refused by the CA: exit 1 with the problem', async () => {
    const result = await run('revoke', 'edge', '--reason', 'superseded');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^certkeeper: ACME alreadyRevoked/);
  });

  it('an unknown reason is a usage error naming --reason', async () => {
    const result = await run('revoke', 'edge', '--reason', 'boredom');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/option '--reason <reason>' argument 'boredom' is invalid/);
  });
});
