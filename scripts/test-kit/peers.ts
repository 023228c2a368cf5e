/**
 * The running local peers, for the tests and the benchmarks (scripts/test-kit/ holds what
 * test/ and bench/ both use, so that bench/ never reaches into test/). `npm test`
 * (scripts/peers.ts run) starts them and exports their endpoints; `npm run peers start` +
 * `npx vitest run ...` works too (then <repo>/.peers/env.json is read).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Route53Client } from '@aws-sdk/client-route-53';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { httpCall, type HttpResult } from '../peers/probes.js';

export { dnsQuery, type DnsReply } from '../peers/dns-client.js';

export interface Peers {
  readonly pebble: {
    /** ACME directory URL. */
    readonly directoryUrl: string;
    readonly managementUrl: string;
    /** Path and PEM of the CA of Pebble's HTTPS certificate (trust it explicitly). */
    readonly caCertPath: string;
    readonly caPem: string;
    /** Where Pebble connects on 127.0.0.1 for http-01 and tls-alpn-01. */
    readonly httpPort: number;
    readonly tlsPort: number;
  };
  readonly motoEndpoint: string;
  readonly dynamodbEndpoint: string;
  /** "127.0.0.1:<port>", UDP and TCP. */
  readonly dnsServer: string;
  /**
   * AWS's aws_signing_helper (AWS_SIGNING_HELPER), installed with the peers; undefined for
   * peers started before it was part of them (restart them: `npm run peers stop`).
   */
  readonly signingHelper: string | undefined;
  readonly region: 'us-east-1';
}

const VARIABLES = [
  'PEBBLE_DIRECTORY_URL',
  'PEBBLE_MANAGEMENT_URL',
  'PEBBLE_CA_CERT',
  'PEBBLE_HTTP_PORT',
  'PEBBLE_TLS_PORT',
  'MOTO_ENDPOINT',
  'DYNAMODB_ENDPOINT',
  'TEST_DNS_SERVER',
] as const;
type Variable = (typeof VARIABLES)[number] | 'AWS_SIGNING_HELPER';

let cached: Peers | undefined;

export function peers(): Peers {
  if (cached) return cached;
  const vars = readVariables();
  const missing = VARIABLES.filter((name) => !vars[name]);
  if (missing.length > 0) {
    throw new Error(
      `local peers not found (missing ${missing.join(', ')}): run tests with npm test, which starts the peers ` +
        '(or start them with `npm run peers start` first)',
    );
  }
  const v = vars as Record<Variable, string>;
  cached = {
    pebble: {
      directoryUrl: v.PEBBLE_DIRECTORY_URL,
      managementUrl: v.PEBBLE_MANAGEMENT_URL.replace(/\/$/, ''),
      caCertPath: v.PEBBLE_CA_CERT,
      caPem: readFileSync(v.PEBBLE_CA_CERT, 'utf8'),
      httpPort: Number(v.PEBBLE_HTTP_PORT),
      tlsPort: Number(v.PEBBLE_TLS_PORT),
    },
    motoEndpoint: v.MOTO_ENDPOINT,
    dynamodbEndpoint: v.DYNAMODB_ENDPOINT,
    dnsServer: v.TEST_DNS_SERVER,
    signingHelper: vars.AWS_SIGNING_HELPER || undefined,
    region: 'us-east-1',
  };
  return cached;
}

function readVariables(): Partial<Record<Variable, string>> {
  const file =
    process.env.CERTKEEPER_PEERS_ENV ??
    (VARIABLES.every((name) => process.env[name]) ? undefined : defaultEnvFile());
  if (file === undefined) return process.env;
  if (!existsSync(file)) return {};
  return (JSON.parse(readFileSync(file, 'utf8')) as { env: Record<string, string> }).env;
}

function defaultEnvFile(): string | undefined {
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.peers', 'env.json');
  return existsSync(path) ? path : undefined;
}

// --- AWS SDK clients: moto and DynamoDB Local, dummy credentials -------------------------

const aws = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});

export const s3Client = (): S3Client => new S3Client({ ...aws(peers().motoEndpoint), forcePathStyle: true });
export const route53Client = (): Route53Client => new Route53Client(aws(peers().motoEndpoint));
export const snsClient = (): SNSClient => new SNSClient(aws(peers().motoEndpoint));
export const sqsClient = (): SQSClient => new SQSClient(aws(peers().motoEndpoint));
export const dynamodbClient = (): DynamoDBClient => new DynamoDBClient(aws(peers().dynamodbEndpoint));

// --- Pebble management API (HTTPS with the generated CA, User-Agent always sent) ---------

export function pebbleGet(path: string): Promise<HttpResult> {
  const { managementUrl, caPem } = peers().pebble;
  return httpCall(`${managementUrl}${path}`, { ca: caPem, timeoutMs: 10_000 });
}

export function pebblePost(path: string, body: unknown): Promise<HttpResult> {
  const { managementUrl, caPem } = peers().pebble;
  return httpCall(`${managementUrl}${path}`, {
    method: 'POST',
    ca: caPem,
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    timeoutMs: 10_000,
  });
}

/** Pebble's current root and intermediate (PEM), to verify the chains it issues. */
export async function pebbleRoots(): Promise<{ root: string; intermediate: string }> {
  const [root, intermediate] = await Promise.all([pebbleGet('/roots/0'), pebbleGet('/intermediates/0')]);
  for (const [what, result] of [
    ['/roots/0', root],
    ['/intermediates/0', intermediate],
  ] as const) {
    if (result.status !== 200) throw new Error(`Pebble ${what} answered ${result.status}: ${result.body}`);
  }
  return { root: root.body, intermediate: intermediate.body };
}

/**
 * Listens on 127.0.0.1:<port> as soon as the port is free (Pebble's http-01 and
 * tls-alpn-01 ports are one each for the whole run: test files running side by side take
 * turns, the port itself being the lock). Close the server promptly when done.
 */
export async function listenWhenFree(server: Server, port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await new Promise<void>((resolveListen, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
          server.off('error', reject);
          resolveListen();
        });
      });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > deadline) throw err;
      await new Promise((done) => setTimeout(done, 100));
    }
  }
}

/** A name unique to this test run: lower-case letters, digits and hyphens (bucket/DNS safe). */
export function uniqueName(prefix: string): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  return `${clean}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
