/**
 * `certkeeper add | remove | list | status` as child processes against a local stand-in
 * for the deployed stack (moto + DynamoDB Local): output, --json shapes, exit codes, and
 * bad arguments that must leave the inventory untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { uniqueName } from '../../scripts/test-kit/peers.js';
import { useStandInStack } from '../../scripts/test-kit/stack.js';
import { certkeeper, json } from '../../scripts/test-kit/operator.js';
import { amendState } from '../../shared/inventory/inventory.js';
import { generateKey } from '../../shared/pki/private-keys.js';
import { pendingKeyKey } from '../../shared/store/layout.js';
import { ObjectPendingKeys } from '../../shared/store/pending-keys.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { listKeys } from '../../scripts/test-kit/stack.js';

/** Its own zone name: test files share one moto, and a name lookup refuses duplicates. */
const ZONE = `${uniqueName('certs')}.test`;
let stack: StandInStack;
let inventory: DynamoInventory;
const run = (...args: string[]) => certkeeper(args, stack.env);

beforeAll(async () => {
  stack = await useStandInStack('cli-certs', [ZONE]);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
});

afterAll(() => stack.clients.s3.destroy());

describe('certkeeper add', () => {
  it('declares an IP certificate, choosing profile shortlived and saying so', async () => {
    const result = await run('add', 'edge', '--ip', '127.0.0.1');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      "profile shortlived chosen: Let's Encrypt issues IP certificates only on it",
    );
    expect(result.stdout).toMatch(/^added edge: 127\.0\.0\.1 \(http-01, profile shortlived, ecdsa-p256\)/);
    expect(result.stdout).toContain('certkeeper.config.json');
    const record = await inventory.get('edge');
    expect(record?.spec).toMatchObject({ profile: 'shortlived', challenge: 'http-01' });
    expect(record?.state.status).toBe('pending');
  });

  it('--json: the change, the spec as stored and the notices', async () => {
    const args = ['add', 'web', '--domain', 'example.test', '--domain', '*.example.test'];
    args.push('--zone', stack.zoneIds[ZONE]!, '--renew-before', '10d', '--json');
    const result = await run(...args);
    expect(result.code).toBe(0);
    const body = json(result);
    expect(body).toEqual({
      certificate: 'web',
      change: 'added',
      status: 'pending',
      spec: {
        name: 'web',
        identifiers: [
          { type: 'dns', value: 'example.test' },
          { type: 'dns', value: '*.example.test' },
        ],
        challenge: 'dns-01',
        keyType: 'ecdsa-p256',
        hostedZoneId: stack.zoneIds[ZONE],
        renewBefore: '10d',
      },
      notices: [expect.stringContaining('written to the inventory directly')],
    });
    // The same declaration again changes nothing.
    expect(json(await run(...args)).change).toBe('unchanged');
  });

  it('documents the exit codes and the declarative source in --help', async () => {
    const result = await run('add', '--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Exit codes:\n\s+0 .*\n\s+1 .*\n\s+2 .*\n\s+3 /);
    expect(result.stdout).toContain('the next deploy retires every certificate that is not in');
  });
});

describe('bad arguments: exit 2, the flag named, nothing written', () => {
  const cases: [string, string[], RegExp][] = [
    [
      'an unknown flag',
      ['add', 'x1', '--domain', 'a.example.test', '--colour', 'red'],
      /unknown option '--colour'/,
    ],
    [
      'a non-canonical IPv6 address',
      ['add', 'x2', '--domain', 'a.example.test', '--ip', '2001:DB8::1'],
      /^certkeeper: --ip: "2001:DB8::1" is not a canonical IP address\. Fix: write it as 2001:db8::1/,
    ],
    [
      'dns-01 with an IP',
      ['add', 'x3', '--ip', '127.0.0.1', '--challenge', 'dns-01'],
      /^certkeeper: --challenge: dns-01 cannot validate an IP address/,
    ],
    [
      'a name given to --ip',
      ['add', 'x4', '--ip', 'example.test'],
      /^certkeeper: --ip: "example.test" is not an IP address/,
    ],
    [
      'a second identifier that is invalid',
      ['add', 'x5', '--ip', '127.0.0.1', '--domain', 'bad_name.test'],
      /^certkeeper: --domain: /,
    ],
    [
      'a bad duration',
      ['add', 'x6', '--domain', 'a.example.test', '--renew-before', '3 days'],
      /^certkeeper: --renew-before: /,
    ],
    ['no identifier', ['add', 'x7'], /^certkeeper: --ip\/--domain: no identifier given/],
    [
      'a bad certificate name',
      ['add', 'Bad Name', '--domain', 'a.example.test'],
      /^certkeeper: <name>: must be 1-63/,
    ],
    [
      'an unknown key type',
      ['add', 'x8', '--domain', 'a.example.test', '--key-type', 'dsa'],
      /option '--key-type <type>' argument 'dsa' is invalid/,
    ],
    [
      'remove of an unknown certificate',
      ['remove', 'nope'],
      /^certkeeper: certificate "nope" is not in the inventory/,
    ],
    [
      'status of an unknown certificate',
      ['status', 'nope'],
      /^certkeeper: certificate "nope" is not in the inventory/,
    ],
    [
      // Not "has not been issued yet": the name was never declared.
      'export of an unknown certificate',
      ['export', 'nope', '--out', '/nonexistent/certkeeper-export'],
      /^certkeeper: certificate "nope" is not in the inventory/,
    ],
    [
      // It used to look up a certificate called "undefined".
      'renew with neither a name nor --out',
      ['renew'],
      /^certkeeper: <name>: renew needs the certificate to renew \(stack mode\) or --out DIR \(local mode\)/,
    ],
    [
      'more names than the CA signs in one certificate',
      ['add', 'x9', ...Array.from({ length: 101 }, (_, i) => ['--domain', `h${i}.example.test`]).flat()],
      /^certkeeper: --ip\/--domain: lists 101 identifiers, but the CA signs at most 100 .*Fix: split it into certificates of at most 100 identifiers each/s,
    ],
    [
      'more IPs than the shortlived profile allows',
      ['add', 'x10', ...Array.from({ length: 26 }, (_, i) => ['--ip', `127.0.0.${i + 1}`]).flat()],
      /^certkeeper: --ip\/--domain: lists 26 identifiers, but the CA signs at most 25 in one certificate on the shortlived profile/,
    ],
  ];

  it.each(cases)('%s', async (_what, args, message) => {
    const before = await inventory.list();
    const result = await run(...args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(await inventory.list()).toEqual(before);
  });

  it('names the flag and the variable when the stack is not given', async () => {
    const { CERTKEEPER_TABLE: _table, ...env } = stack.env;
    const result = await certkeeper(['list'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'certkeeper: --table: the inventory table is not known. Fix: pass --table <name> or set CERTKEEPER_TABLE\n',
    );
    // ...and a flag is enough.
    const flagged = await certkeeper(['list', '--table', stack.table, '--json'], env);
    expect(flagged.code).toBe(0);
  });

  it('exits 3 when the inventory cannot be reached', async () => {
    const result = await certkeeper(['list'], {
      ...stack.env,
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^certkeeper: .*DynamoDB/);
  });
});

describe('certkeeper list and status', () => {
  beforeAll(async () => {
    // A failed attempt on record, as the issuer writes it.
    await amendState(inventory, 'edge', ({ state }) => ({
      ...state,
      attempts: 2,
      nextAttemptAt: new Date(Date.now() + 120_000).toISOString(),
      lastError: {
        code: 'acme-problem',
        type: 'urn:ietf:params:acme:error:connection',
        detail: '127.0.0.1: Connection refused',
        at: new Date().toISOString(),
      },
    }));
  });

  it('lists every certificate as a table, exit 1 while one has failed attempts', async () => {
    const result = await run('list');
    expect(result.code).toBe(1);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+IDENTIFIERS\s+PROFILE\s+STATUS\s+NOTAFTER\s+CA\s+RENEWAL\s+FAILURES$/);
    expect(lines.find((l) => l.startsWith('edge '))).toMatch(
      /127\.0\.0\.1\s+shortlived\s+pending\s+-\s+-\s+.*\s+2$/,
    );
    expect(lines.find((l) => l.startsWith('web '))).toMatch(
      /example\.test,\*\.example\.test\s+-\s+pending\s+-\s+-\s+.*\s+0$/,
    );
  });

  it('--json: one summary per certificate', async () => {
    const list = json<Record<string, unknown>[]>(await run('list', '--json'));
    expect(list.map((c) => c.name)).toEqual(['edge', 'web']);
    expect(list[0]).toEqual({
      name: 'edge',
      identifiers: ['127.0.0.1'],
      profile: 'shortlived',
      challenge: 'http-01',
      status: 'pending',
      serial: null,
      notAfter: null,
      ca: null,
      renewalAt: expect.any(String),
      dueAt: expect.any(String),
      attempts: 2,
      needsAttention: true,
    });
  });

  it('status shows the last error with its ACME problem type, the attempts and the next attempt', async () => {
    const result = await run('status', 'edge');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^edge: pending\n/);
    expect(result.stdout).toMatch(
      /last error\s+\S+: urn:ietf:params:acme:error:connection: 127\.0\.0\.1: Connection refused/,
    );
    expect(result.stdout).toMatch(/attempts\s+2 failed in a row/);
    expect(result.stdout).toMatch(/next attempt\s+\S+ \(in \d+ min\)/);
    expect(result.stdout).toMatch(/manifest\s+- \(none in the bucket\)/);
    const body = json(await run('status', 'edge', '--json'));
    expect(body).toMatchObject({
      name: 'edge',
      attempts: 2,
      lastError: { type: 'urn:ietf:params:acme:error:connection' },
      manifest: null,
      manifestError: null,
      spec: { name: 'edge' },
      state: { status: 'pending' },
    });
  });

  it('remove retires, keeping its files and keys but the one kept for an unfinished order, and says so; add brings it back', async () => {
    // What an order cut off after finalize leaves (store/pending-keys.ts), beside a serial's file.
    const objects = new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket });
    await new ObjectPendingKeys(objects).put('web', {
      orderUrl: 'https://ca.test/order/1',
      keyPem: generateKey('ecdsa-p256'),
    });
    await objects.put('certificates/web/0a/cert.pem', 'certificate');
    const result = await run('remove', 'web');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('retired web: it will not be renewed again');
    expect(result.stdout).toContain(
      `its files and keys stay in s3://${stack.bucket}/certificates/web/; only the key kept for an unfinished order is removed`,
    );
    expect(await listKeys(stack, 'certificates/web/')).toEqual(['certificates/web/0a/cert.pem']);
    expect(await objects.get(pendingKeyKey('web'))).toBeUndefined();
    const record = await inventory.get('web');
    expect(record?.state.status).toBe('retired');
    expect(record?.state.dueAt).toBeUndefined();
    expect(json(await run('remove', 'web', '--json'))).toEqual({
      certificate: 'web',
      retired: true,
      alreadyRetired: true,
      kept: `s3://${stack.bucket}/certificates/web/`,
    });
    const back = json(await run('add', 'web', '--domain', 'example.test', '--json'));
    expect(back).toMatchObject({ change: 'revived', status: 'pending' });
  });
});
