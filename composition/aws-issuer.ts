import { readFileSync } from 'node:fs';
import { ACMClient } from '@aws-sdk/client-acm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import type { AcmeTransport } from '../shared/acme/transport.js';
import { SecretsManagerReader } from '../shared/aws/secrets.js';
import { assumeRoleCredentials } from '../shared/challenges/dns01/assume-role.js';
import { Route53DnsProvider } from '../shared/challenges/dns01/route53.js';
import { Dns01Solver } from '../shared/challenges/dns01/solver.js';
import { S3Http01Solver } from '../shared/challenges/http01/s3.js';
import { ObjectTlsAlpn01Solver } from '../shared/challenges/tlsalpn01/store.js';
import { SdkAcmImporter } from '../shared/delivery/acm.js';
import { NameserverTxtResolver } from '../shared/dns/resolver.js';
import type { EventPublisher } from '../shared/events/publisher.js';
import { SnsPublisher } from '../shared/events/sns.js';
import { DynamoLeaseLock } from '../shared/lock/dynamodb.js';
import type { CaSettings } from '../shared/model/cas.js';
import { systemClock } from '../shared/model/clock.js';
import { caFallbackOf, casOf } from '../shared/model/runtime-config.js';
import { ObjectPendingKeys } from '../shared/store/pending-keys.js';
import { S3CertificateStore, S3ObjectStore } from '../shared/store/s3-store.js';
import type { RenewDeps } from '../shared/usecases/renew-certificate.js';
import { buildRuntime, type Runtime, type RuntimeOverrides } from './aws.js';
import { acmeAccountsFor, authoritiesFor, solversFor } from './parts.js';

/** The shared runtime plus everything a renewal needs. */
export interface IssuerRuntime extends Runtime {
  renewDeps: RenewDeps;
  /** The bucket as an object store (accounts, tokens, agent reports, the fleet view). */
  objects: S3ObjectStore;
  /** The ACME transport the CAs share (doctor shortens its retries). */
  transport: AcmeTransport;
}

/** Synchronous composition, the CA secrets already in the environment (the CLI, tests). */
export function buildIssuerRuntime(env: NodeJS.ProcessEnv, overrides: RuntimeOverrides = {}): IssuerRuntime {
  const core = buildRuntime(env, overrides);
  return withRenewal(core, casOf(core.env));
}

/** The renewal machinery over a runtime, each CA's EAB HMAC key read from Secrets Manager first. */
export async function issuerRuntimeFor(core: Runtime): Promise<IssuerRuntime> {
  return withRenewal(core, await withSecrets(casOf(core.env), core.env.AWS_REGION));
}

/** Resolves each CA's EAB HMAC key from Secrets Manager when the stack gave its ARN. */
async function withSecrets(cas: CaSettings[], region: string): Promise<CaSettings[]> {
  if (!cas.some((ca) => ca.eab?.hmacKeySecretArn && !ca.eab.hmacKey)) return cas;
  const reader = new SecretsManagerReader(new SecretsManagerClient({ region }));
  return Promise.all(
    cas.map(async (ca) =>
      ca.eab?.hmacKeySecretArn && !ca.eab.hmacKey
        ? { ...ca, eab: { ...ca.eab, hmacKey: await reader.read(ca.eab.hmacKeySecretArn) } }
        : ca,
    ),
  );
}

function withRenewal(core: Runtime, cas: CaSettings[]): IssuerRuntime {
  const { clock, log, inventory, env } = core;
  const region = env.AWS_REGION;
  const s3 = new S3Client({ region, forcePathStyle: env.CERTKEEPER_S3_FORCE_PATH_STYLE });
  const storeOptions = { bucket: env.CERTKEEPER_BUCKET, kmsKeyId: env.CERTKEEPER_KMS_KEY_ID, clock };
  const objects = new S3ObjectStore(s3, storeOptions);
  const events: EventPublisher = env.CERTKEEPER_TOPIC_ARN
    ? new SnsPublisher(new SNSClient({ region }), { topicArn: env.CERTKEEPER_TOPIC_ARN, clock })
    : { publish: async (event) => log.info('event (no topic configured)', { event }) };

  // One account per CA, each kept in the bucket under its directory's host.
  const accounts = acmeAccountsFor(objects, clock);
  const authorities = authoritiesFor(cas, {
    accounts,
    caPem: readPem(env.CERTKEEPER_ACME_CA_PEM),
    clock,
    log,
  });

  // Zones in other accounts: one client per role, built on first use and kept for the
  // container, whose credentials come from AssumeRole and are renewed before they expire.
  // Their lifetime is wall-clock time at STS, so they ignore a test's clock.
  const sts = new STSClient({ region });
  const route53 = new Route53DnsProvider(new Route53Client({ region }), {
    zoneRoles: env.CERTKEEPER_ZONE_ROLES,
    clientForRole: (roleArn) =>
      new Route53Client({
        region,
        credentials: assumeRoleCredentials(sts, roleArn, { clock: systemClock }),
      }),
  });
  const nameservers = env.CERTKEEPER_DNS_RESOLVERS?.split(',').map((s) => s.trim());
  const solverFor = solversFor({
    dns01: new Dns01Solver({ provider: route53, nameservers, log }),
    http01: new S3Http01Solver({ store: objects }),
    tlsAlpn01: new ObjectTlsAlpn01Solver({ store: objects }),
  });

  return {
    ...core,
    env,
    objects,
    transport: accounts.transport,
    renewDeps: {
      clock,
      inventory,
      lock: new DynamoLeaseLock({
        client: new DynamoDBClient({ region }),
        tableName: env.CERTKEEPER_TABLE,
        clock,
      }),
      store: new S3CertificateStore(s3, storeOptions),
      pendingKeys: new ObjectPendingKeys(objects),
      authorities,
      caFallback: caFallbackOf(env),
      // CAA as the CAs will see it (the configured resolvers, else the system's).
      caa: new NameserverTxtResolver(nameservers ?? []),
      solverFor,
      events,
      bucket: env.CERTKEEPER_BUCKET,
      log,
      random: core.overrides.random,
      // ACM is regional: one client per declared region, built on first use and kept for
      // the container (endpoints follow AWS_ENDPOINT_URL_ACM / AWS_ENDPOINT_URL, as for S3).
      acm: new SdkAcmImporter({ clientFor: (acmRegion) => new ACMClient({ region: acmRegion }), clock }),
    },
  };
}

/** The ACME server's CA, given inline as PEM or as a file path. */
function readPem(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return value.startsWith('-----BEGIN') ? value : readFileSync(value, 'utf8');
}
