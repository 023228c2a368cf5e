/**
 * Bad input is refused with an error naming the field and the fix, and loses nothing:
 * nothing is written to S3 and the certificate already in place stays current.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as issuer } from '../../functions/issuer.js';
import { issuerRuntime } from '../../functions/issuer-runtime.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { NotFoundError, UnreachableError, ValidationError } from '../../shared/model/errors.js';
import { renewCertificate } from '../../shared/usecases/renew-certificate.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import { listKeys, pointHandlersAt, useStandInStack } from '../../scripts/test-kit/stack.js';
import { declareSpec } from '../../shared/usecases/declare-certificates.js';

let stack: StandInStack;
let inventory: DynamoInventory;
let keysBefore: string[];

const manifest = async (name: string) =>
  (
    await stack.clients.s3.send(
      new GetObjectCommand({ Bucket: stack.bucket, Key: `certificates/${name}/current.json` }),
    )
  ).Body!.transformToString();

beforeAll(async () => {
  stack = await useStandInStack('badinput', ['keep.test']);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  await declareCertificate(inventory, { name: 'keep', identifiers: ['keep.test'], profile: 'classic' });
  const first = await renewCertificate((await issuerRuntime()).renewDeps, 'keep');
  expect(first.status).toBe('issued');
  keysBefore = await listKeys(stack, '');
});

/** Asserts the store and the certificate in place are exactly as before the bad input. */
async function expectNothingChanged(): Promise<void> {
  expect(await listKeys(stack, '')).toEqual(keysBefore);
  const record = await inventory.get('keep');
  expect(record?.spec.identifiers).toEqual([{ type: 'dns', value: 'keep.test' }]);
  expect(JSON.parse(await manifest('keep')).serial).toBe(record?.state.current?.serial);
}

async function refusedDeclaration(input: object): Promise<ValidationError> {
  const error = await declareCertificate(inventory, input).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ValidationError);
  await expectNothingChanged();
  return error as ValidationError;
}

describe('declarations the CA would refuse are refused before anything is written', () => {
  it('an IP address with dns-01', async () => {
    const error = await refusedDeclaration({ name: 'keep', identifiers: ['127.0.0.1'], challenge: 'dns-01' });
    expect(error.field).toBe('certificates.keep.challenge');
    expect(error.fix).toMatch(/http-01/);
  });

  it('a wildcard with http-01', async () => {
    const error = await refusedDeclaration({
      name: 'keep',
      identifiers: ['*.keep.test'],
      challenge: 'http-01',
    });
    expect(error.field).toBe('certificates.keep.challenge');
    expect(error.fix).toMatch(/dns-01/);
  });

  it('a wildcard with tls-alpn-01 (RFC 8737 §3 forbids it)', async () => {
    const error = await refusedDeclaration({
      name: 'keep',
      identifiers: ['keep.test', '*.keep.test'],
      challenge: 'tls-alpn-01',
    });
    expect(error.field).toBe('certificates.keep.challenge');
    expect(error.message).toContain('tls-alpn-01 cannot validate the wildcard *.keep.test (RFC 8737 §3');
    expect(error.fix).toMatch(/use "dns-01" for wildcard certificates/);
  });

  it('a non-canonical IPv6 address, with the canonical form in the fix', async () => {
    const error = await refusedDeclaration({ name: 'keep', identifiers: ['2001:db8:0:0::1'] });
    expect(error.field).toBe('certificates.keep.identifiers[0]');
    expect(error.fix).toContain('2001:db8::1');
  });

  it('a malformed domain', async () => {
    const error = await refusedDeclaration({ name: 'keep', identifiers: ['keep..test'] });
    expect(error.field).toBe('certificates.keep.identifiers[0]');
    expect(error.message).toContain('keep..test');
  });
});

describe('renewals that cannot succeed fail clearly and keep the current certificate', () => {
  it('an unknown certificate name', async () => {
    const error = await renewCertificate((await issuerRuntime()).renewDeps, 'nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).message).toContain('"nope"');
    const response = await issuer(
      sqsEvent([{ MessageId: 'unknown', Body: JSON.stringify({ certificate: 'nope' }) }]),
    );
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'unknown' }]);
    await expectNothingChanged();
  });

  it('a profile the CA does not offer names the profile and what is offered', async () => {
    await declareSpec(inventory, { ...(await inventory.get('keep'))!.spec, profile: 'gold' });
    const outcome = await renewCertificate((await issuerRuntime()).renewDeps, 'keep', { force: true });
    expect(outcome.status).toBe('failed');
    const error = outcome.status === 'failed' ? outcome.error : undefined;
    expect(error?.message).toMatch(/"gold" is not offered.*classic.*shortlived/);
    expect((await inventory.get('keep'))?.state.lastError?.detail).toContain('"gold"');
    await declareSpec(inventory, { ...(await inventory.get('keep'))!.spec, profile: 'classic' });
    await expectNothingChanged();
  });

  it('a hosted zone missing for the name', async () => {
    await declareCertificate(inventory, {
      name: 'nozone',
      identifiers: ['www.nozone.test'],
      profile: 'classic',
    });
    const outcome = await renewCertificate((await issuerRuntime()).renewDeps, 'nozone');
    expect(outcome.status).toBe('failed');
    expect(outcome.status === 'failed' && outcome.error.message).toMatch(/hosted zone.*nozone\.test/);
    expect(await listKeys(stack, 'certificates/nozone/')).toEqual([]);
    await expectNothingChanged();
  });

  it('the CA directory unreachable', async () => {
    pointHandlersAt({ ...stack.env, CERTKEEPER_DIRECTORY_URL: 'https://127.0.0.1:1/dir' });
    try {
      const outcome = await renewCertificate((await issuerRuntime()).renewDeps, 'keep', { force: true });
      expect(outcome.status).toBe('failed');
      const error = outcome.status === 'failed' ? outcome.error : undefined;
      expect(error).toBeInstanceOf(UnreachableError);
      expect(error?.message).toContain('https://127.0.0.1:1/dir');
      expect((await inventory.get('keep'))?.state).toMatchObject({
        status: 'valid',
        lastError: { code: 'unreachable' },
      });
      await expectNothingChanged();
    } finally {
      pointHandlersAt(stack.env);
    }
  });
});
