import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListHostedZonesCommand, Route53Client } from '@aws-sdk/client-route-53';
import { NameserverTxtResolver } from '../../shared/dns/resolver.js';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import type { IssuerRuntime } from '../../composition/aws-issuer.js';
import { AcmeAccounts } from '../../shared/acme/index.js';
import { assumeRoleCredentials } from '../../shared/challenges/dns01/assume-role.js';
import { Route53DnsProvider } from '../../shared/challenges/dns01/route53.js';
import type { CertificateSpec } from '../../shared/model/spec.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { bucketCheck, heartbeatCheck, tableCheck, topicCheck } from './aws.js';
import { accountCheck, clockCheck, directoryCheck } from './ca.js';
import { type CheckResult, type CheckSpec, type DoctorReport, runCheck, summarize } from './check.js';
import { caaCheck } from './caa.js';
import { http01Check } from './http01.js';
import { tlsAlpn01Check } from './tlsalpn01.js';
import { certificateZoneCheck, domainZoneCheck, type ZoneAccess } from './zones.js';

export interface DoctorOptions {
  /** Domains to check for a hosted zone besides the dns-01 certificates' names. */
  zones: readonly string[];
  http01Port: number;
  tlsAlpn01Port: number;
  /** Bound on each check, so a dead peer costs seconds. */
  timeoutMs: number;
}

/**
 * Composes the checks from the same pieces the issuer runs on (the issuer runtime that
 * cli/context.ts builds: the ACME client and its CA trust, the inventory, the http-01 and
 * tls-alpn-01 solvers), runs them all at once and reports every result; nothing here throws for a
 * broken peer, only for a broken command line (cli/context.ts, exit 2).
 */
export async function runDoctor(issuer: IssuerRuntime, options: DoctorOptions): Promise<DoctorReport> {
  const { env, inventory, heartbeat } = issuer;
  const { authorities, solverFor } = issuer.renewDeps;
  const ca = authorities[0]!.ca;
  const region = env.AWS_REGION;

  // A verdict, not persistence: no retries, and no request outlives the check's deadline.
  const { transport } = issuer;
  transport.configure({ maxRetries: 0, timeoutMs: options.timeoutMs });

  const s3 = new S3Client({ region, forcePathStyle: env.CERTKEEPER_S3_FORCE_PATH_STYLE });
  const objects = new S3ObjectStore(s3, { bucket: env.CERTKEEPER_BUCKET });
  const settings = {
    directoryUrl: env.CERTKEEPER_DIRECTORY_URL,
    ...(env.CERTKEEPER_CONTACT ? { email: env.CERTKEEPER_CONTACT } : {}),
  };

  // The inventory decides which zone, http-01 and tls-alpn-01 checks exist, so it is read first (one
  // query, under the same deadline).
  let specs: CertificateSpec[] = [];
  const [listed] = await runCheck(
    {
      id: 'inventory',
      timeoutFix: 'check the DynamoDB endpoint and network access to it',
      async run() {
        // Retired certificates are no longer renewed; their zones may rightly be gone.
        specs = (await inventory.list()).filter((r) => r.state.status !== 'retired').map((r) => r.spec);
        return { status: 'ok', message: `${specs.length} certificate(s) declared` };
      },
    },
    options.timeoutMs,
  );
  const inventoryResult: CheckResult =
    listed!.status === 'ok'
      ? listed!
      : {
          ...listed!,
          message: `${listed!.message} (so hosted zones, http-01 and tls-alpn-01 were not checked)`,
        };

  const trust = env.CERTKEEPER_ACME_CA_PEM ? 'CERTKEEPER_ACME_CA_PEM' : 'the system roots';
  const checks: CheckSpec[] = [
    directoryCheck(ca, specs, trust),
    accountCheck({
      objects,
      location: objects.location,
      accounts: new AcmeAccounts(objects, { transport }),
      settings,
    }),
    clockCheck(transport, env.CERTKEEPER_DIRECTORY_URL),
    bucketCheck(s3, env.CERTKEEPER_BUCKET),
    tableCheck(new DynamoDBClient({ region }), env.CERTKEEPER_TABLE),
    heartbeatCheck(heartbeat),
    topicCheck(new SNSClient({ region }), env.CERTKEEPER_TOPIC_ARN),
    // Fallback CAs: each reached the same way, with its own account.
    ...authorities.slice(1).flatMap(({ name, ca: fallback, settings: s }) => [
      directoryCheck(fallback, specs, trust, name),
      accountCheck({
        objects,
        location: objects.location,
        accounts: new AcmeAccounts(objects, { transport }),
        settings: { directoryUrl: s.directoryUrl, ...(s.contact ? { email: s.contact } : {}) },
        caName: name,
      }),
    ]),
  ];

  const dnsSpecs = specs.filter((s) => s.challenge === 'dns-01');
  if (dnsSpecs.length > 0 || options.zones.length > 0) {
    const access = zoneAccess(region, env.CERTKEEPER_ZONE_ROLES, env.CERTKEEPER_DNS_RESOLVERS);
    checks.push(...dnsSpecs.map((spec) => certificateZoneCheck(access, spec)));
    checks.push(...options.zones.map((domain) => domainZoneCheck(access, domain)));
  }
  for (const spec of specs.filter((s) => s.challenge === 'http-01')) {
    const solver = solverFor(spec);
    if (solver) checks.push(http01Check(solver, spec, options.http01Port, options.timeoutMs));
  }
  for (const spec of specs.filter((s) => s.challenge === 'tls-alpn-01')) {
    const solver = solverFor(spec);
    if (solver) {
      checks.push(
        tlsAlpn01Check(spec, {
          solver,
          objects,
          bucket: env.CERTKEEPER_BUCKET,
          port: options.tlsAlpn01Port,
          timeoutMs: options.timeoutMs,
        }),
      );
    }
  }

  // Read even with one CA, which the issuer leaves to judge CAA itself: doctor says it first.
  const { caa } = issuer.renewDeps;
  for (const check of caa ? specs.map((spec) => caaCheck(caa, spec, authorities)) : []) {
    if (check) checks.push(check);
  }

  const results = (await Promise.all(checks.map((c) => runCheck(c, options.timeoutMs)))).flat();
  const all = [inventoryResult, ...results];
  return { checks: all, summary: summarize(all) };
}

/**
 * Route53 as the issuer reaches it: zones in other accounts through their role. The role
 * clients are kept so the permission probe of a zone goes through the same credentials
 * as its lookup.
 */
function zoneAccess(
  region: string,
  zoneRoles: Readonly<Record<string, string>>,
  resolvers: string | undefined,
): ZoneAccess {
  const main = new Route53Client({ region });
  const sts = new STSClient({ region });
  const byRole = new Map<string, Route53Client>();
  const clientForRole = (roleArn: string): Route53Client => {
    let client = byRole.get(roleArn);
    if (!client) {
      client = new Route53Client({ region, credentials: assumeRoleCredentials(sts, roleArn) });
      byRole.set(roleArn, client);
    }
    return client;
  };
  const provider = new Route53DnsProvider(main, { zoneRoles, clientForRole });
  let firstPublic: Promise<string | undefined> | undefined;
  return {
    provider,
    clientFor: (zoneId) => (zoneRoles[zoneId] ? clientForRole(zoneRoles[zoneId]) : main),
    cnames: new NameserverTxtResolver(resolvers?.split(',').map((s) => s.trim()) ?? []),
    delegationZone: () =>
      (firstPublic ??= main
        .send(new ListHostedZonesCommand({}))
        .then((out) => out.HostedZones?.find((z) => !z.Config?.PrivateZone)?.Name?.replace(/\.$/, ''))),
  };
}
