/**
 * A stand-in stack per test file (bucket, table, queue, topic, zones on the real peers), with
 * the handlers' environment pointed at it, and a counter of the ACME requests this process
 * sends to Pebble.
 */
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
  type RRType,
} from '@aws-sdk/client-route-53';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import acme from 'acme-client';
import { resetRuntime, type RuntimeOverrides } from '../../functions/runtime.js';
import { createStandInStack, type StandInStack } from '../stand-in-stack/stack.js';
import { type Http01Responder, startHttp01Responder } from '../../shared/challenges/http01/responder.js';
import type { CertificateEvent } from '../../shared/model/event.js';
import type { Manifest, ObjectStore } from '../../shared/store/store.js';
import { receiveAll } from '../stand-in-stack/pipeline.js';
import { peers, uniqueName } from './peers.js';

/** A stand-in stack on the running peers, its resource names unique to this run. */
export function createPeerStack(prefix: string, zones: string[] = []): Promise<StandInStack> {
  const p = peers();
  return createStandInStack(
    {
      motoEndpoint: p.motoEndpoint,
      dynamodbEndpoint: p.dynamodbEndpoint,
      directoryUrl: p.pebble.directoryUrl,
      acmeCaPath: p.pebble.caCertPath,
      dnsServer: p.dnsServer,
    },
    { id: uniqueName(prefix).slice(0, 40), zones },
  );
}

export async function useStandInStack(prefix: string, zones: string[] = []): Promise<StandInStack> {
  const stack = await createPeerStack(prefix, zones);
  pointHandlersAt(stack.env);
  return stack;
}

/** Sets the handlers' environment and forgets the cached runtime (a cold start). */
export function pointHandlersAt(env: Record<string, string>, overrides: RuntimeOverrides = {}): void {
  Object.assign(process.env, env, { POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' });
  resetRuntime(overrides);
}

/** One issuer queue message for a certificate, as the scheduler sends a first issue. */
export const issuerMessage = (
  certificate: string,
  extra: Record<string, unknown> = { reason: 'missing' },
) => ({
  MessageId: uniqueName('m'),
  Body: JSON.stringify({ certificate, ...extra }),
});

/** The events published for `name` since the last call (the SNS topic's SQS tap). */
export async function tapEvents(stack: StandInStack, name: string): Promise<CertificateEvent[]> {
  return (await receiveAll(stack.clients.sqs, stack.tapQueueUrl))
    .map((m) => JSON.parse(m.Body!) as CertificateEvent)
    .filter((e) => e.certificate === name);
}

/** The certificate's manifest; undefined before the first one is stored. */
export async function readManifest(stack: StandInStack, name: string): Promise<Manifest | undefined> {
  const out = await stack.clients.s3
    .send(new GetObjectCommand({ Bucket: stack.bucket, Key: `certificates/${name}/current.json` }))
    .catch((err: unknown) => {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    });
  return out && (JSON.parse(await out.Body!.transformToString()) as Manifest);
}

/** The serial the certificate's manifest names; undefined before the first one is stored. */
export async function manifestSerial(stack: StandInStack, name: string): Promise<string | undefined> {
  return (await readManifest(stack, name))?.serial;
}

/**
 * A zone standing in for another DNS host: private, so certkeeper never finds or writes it,
 * yet served by the test DNS server (which answers from every zone in moto). Its id.
 */
export async function createForeignZone(stack: StandInStack, name: string): Promise<string> {
  const { HostedZone } = await stack.clients.route53.send(
    new CreateHostedZoneCommand({
      Name: name,
      CallerReference: uniqueName('ref'),
      HostedZoneConfig: { PrivateZone: true, Comment: 'another DNS host, for CNAME delegation' },
      VPC: { VPCRegion: 'us-east-1', VPCId: 'vpc-12345678' },
    }),
  );
  return HostedZone!.Id!.replace('/hostedzone/', '');
}

/** Creates or replaces a record set (any type, Route53's value syntax) in a zone of the stack's moto. */
export async function putRecord(
  stack: StandInStack,
  zoneId: string,
  name: string,
  type: RRType,
  values: string[],
): Promise<void> {
  await stack.clients.route53.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      ChangeBatch: {
        Changes: [
          {
            Action: 'UPSERT',
            ResourceRecordSet: {
              Name: name,
              Type: type,
              TTL: 60,
              ResourceRecords: values.map((Value) => ({ Value })),
            },
          },
        ],
      },
    }),
  );
}

/** Creates or replaces a CNAME record in a zone of the stack's moto. */
export const putCname = (stack: StandInStack, zoneId: string, name: string, target: string): Promise<void> =>
  putRecord(stack, zoneId, name, 'CNAME', [target]);

/** Every key under a prefix of the stack's bucket. */
/** Removes the record set of this name and type (Route53 deletes a set by its exact contents). */
export async function deleteRecord(
  stack: StandInStack,
  zoneId: string,
  name: string,
  type: RRType,
): Promise<void> {
  const listed = await stack.clients.route53.send(
    new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: name, StartRecordType: type }),
  );
  const set = listed.ResourceRecordSets?.find((r) => r.Type === type && r.Name?.replace(/\.$/, '') === name);
  if (!set) return;
  await stack.clients.route53.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      ChangeBatch: { Changes: [{ Action: 'DELETE', ResourceRecordSet: set }] },
    }),
  );
}

export async function listKeys(stack: StandInStack, prefix: string): Promise<string[]> {
  const out = await stack.clients.s3.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

export interface AcmeRequestLog {
  /** Successful answers since the counter was installed, as "METHOD path status". */
  readonly answers: string[];
  /** How many requests to a path the CA accepted (badNonce retries are not counted twice). */
  count(pathPart: string, method?: string): number;
}

type AxiosInstance = typeof acme.axios;
type RequestTap = Parameters<AxiosInstance['interceptors']['request']['use']>[0];
type ResponseTap = Parameters<AxiosInstance['interceptors']['response']['use']>[0];

/**
 * Interceptors on the axios instance of every ACME transport this process makes from now
 * on: each transport makes its own with acme.axios.create (shared/acme/transport.ts), so a
 * test sees the requests of the compositions it builds without reaching into them. A
 * request tap runs after the transport's own (axios runs request interceptors last added
 * first), a response tap before it, on every answer the CA sent (held answers included).
 */
export function tapAcmeTransports(tap: { request?: RequestTap; response?: ResponseTap }): void {
  const create = acme.axios.create.bind(acme.axios);
  acme.axios.create = (config) => {
    const instance = create(config);
    if (tap.request) instance.interceptors.request.use(tap.request);
    if (tap.response) instance.interceptors.response.use(tap.response);
    return instance;
  };
}

/**
 * Records the requests this process sent through acme-client that the CA (Pebble)
 * accepted, so a test can say how many orders or registrations actually took effect.
 */
export function recordAcmeRequests(): AcmeRequestLog {
  const answers: string[] = [];
  tapAcmeTransports({
    response: (response) => {
      const { method, url } = response.config;
      answers.push(
        `${(method ?? 'get').toUpperCase()} ${new URL(url ?? '', 'https://x').pathname} ${response.status}`,
      );
      return response;
    },
  });
  return {
    answers,
    count: (pathPart, method = 'POST') =>
      answers.filter((r) => r.startsWith(`${method} `) && r.includes(pathPart) && / 2\d\d$/.test(r)).length,
  };
}

/**
 * Serves http-01 tokens from `store` on Pebble's http port. Test files running side by side
 * share that one port, so wait for it to be free; close the responder promptly.
 */
export async function serveHttp01OnPebblePort(
  store: ObjectStore,
  timeoutMs = 120_000,
): Promise<Http01Responder> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await startHttp01Responder({ store, host: '127.0.0.1', port: peers().pebble.httpPort });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > deadline) throw err;
      await new Promise((done) => setTimeout(done, 100));
    }
  }
}
