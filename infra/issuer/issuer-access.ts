/**
 * What the issuer Lambda may touch beyond the table, key and topic: the bucket's
 * certkeeper prefixes, the `_acme-challenge` TXT records of the configured zones (DNS-01),
 * and the ACM certificates it imports.
 */
import { Annotations, Aws } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../../shared/config/deployment.js';
import { ACM_TAG_CERTIFICATE, ACM_TAG_SERIAL } from '../../shared/model/delivery.js';
import type { CertificateSpec } from '../../shared/model/spec.js';
import {
  ACCOUNTS_PREFIX,
  CERTIFICATES_PREFIX,
  HTTP01_PREFIX,
  PENDING_DIR,
  TLSALPN01_PREFIX,
  pendingKeyKey,
} from '../../shared/store/layout.js';
import { allow, logicalIdOf } from './lambda.js';

/** Key types ACM imports but CloudFront does not use. */
const CLOUDFRONT_REFUSES: readonly string[] = ['ecdsa-p384'];

/**
 * Inventory sync retires certificates on deploy: it may delete their kept order keys and
 * nothing else in the bucket (no read: the key is deleted unread).
 */
export function grantRetiredKeyDeletes(fn: lambda.Function, bucket: s3.Bucket): void {
  const keptKeys = pendingKeyKey('*');
  allow(fn, ['s3:DeleteObject'], [bucket.arnForObjects(keptKeys)]);
  NagSuppressions.addResourceSuppressions(
    fn.role!,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Deletes only the key kept for an unfinished order (certificates/*/pending/order-key.json) of the certificates a deploy retires; their names are data.',
        appliesTo: [`Resource::<${logicalIdOf(bucket)}.Arn>/${keptKeys}`],
      },
    ],
    true,
  );
}

/**
 * Objects by prefix: read and write certificates and accounts, and the HTTP-01 tokens and
 * TLS-ALPN-01 validation certificates, which are also the only objects the issuer may
 * delete besides a key kept for an order that failed before finalize (no certificate
 * carries it). Serials and their keys are never deleted.
 */
export function grantIssuerObjects(issuer: lambda.Function, bucket: s3.Bucket): void {
  const challenges = [HTTP01_PREFIX, TLSALPN01_PREFIX].map((p) => `${p}*`);
  const prefixes = [`${CERTIFICATES_PREFIX}*`, ...challenges, `${ACCOUNTS_PREFIX}*`];
  allow(
    issuer,
    ['s3:GetObject', 's3:PutObject'],
    prefixes.map((p) => bucket.arnForObjects(p)),
  );
  const pendingKeys = `${CERTIFICATES_PREFIX}*/${PENDING_DIR}/*`;
  allow(
    issuer,
    ['s3:DeleteObject'],
    [...challenges, pendingKeys].map((p) => bucket.arnForObjects(p)),
  );
  // The serial files are written with their retention tag (RETENTION_TAG), which S3
  // authorises as tagging.
  allow(issuer, ['s3:PutObjectTagging'], [bucket.arnForObjects(`${CERTIFICATES_PREFIX}*`)]);
  // Listing a certificate's serials; also what makes a missing key read as 404, not 403.
  // Unconditioned on purpose: S3 decides 404-vs-403 for a GetObject of a missing key by
  // the ListBucket grant, and a prefix condition (which a GetObject carries no value for)
  // would turn a first issuance's "no account yet" / "no manifest yet" into AccessDenied.
  allow(issuer, ['s3:ListBucket'], [bucket.bucketArn]);
  const reason =
    'Object wildcards are limited to the certkeeper prefixes (certificates/*, challenges/http-01/*, challenges/tls-alpn-01/*, accounts/*; deletes: the challenge prefixes and certificates/*/pending/*); object keys are not known at deploy time.';
  NagSuppressions.addResourceSuppressions(
    issuer.role!,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason,
        appliesTo: [...prefixes, pendingKeys].map((p) => `Resource::<${logicalIdOf(bucket)}.Arn>/${p}`),
      },
    ],
    true,
  );
}

/**
 * DNS-01: change only TXT records named `_acme-challenge.*` in the configured zones; read
 * the zones; list zones (longest-suffix lookup) and poll changes, which IAM only grants on
 * `*` and `change/*`; assume only the configured cross-account zone roles.
 */
export function grantRoute53(
  issuer: lambda.Function,
  hostedZones: DeploymentConfig['hostedZones'],
  certificates: readonly CertificateSpec[],
): void {
  const zoneIds = [
    ...new Set([
      ...hostedZones.map((z) => z.id),
      ...certificates.flatMap((c) => (c.hostedZoneId ? [c.hostedZoneId] : [])),
    ]),
  ];
  const roleArns = [...new Set(hostedZones.flatMap((z) => (z.roleArn ? [z.roleArn] : [])))];
  if (zoneIds.length === 0) return;
  const zoneArns = zoneIds.map((id) => `arn:${Aws.PARTITION}:route53:::hostedzone/${id}`);
  allow(issuer, ['route53:ChangeResourceRecordSets'], zoneArns, {
    'ForAllValues:StringLike': {
      'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['_acme-challenge.*'],
    },
    'ForAllValues:StringEquals': {
      'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
      'route53:ChangeResourceRecordSetsActions': ['CREATE', 'UPSERT', 'DELETE'],
    },
  });
  allow(issuer, ['route53:ListResourceRecordSets', 'route53:GetHostedZone'], zoneArns);
  allow(issuer, ['route53:ListHostedZones'], ['*']);
  allow(issuer, ['route53:GetChange'], [`arn:${Aws.PARTITION}:route53:::change/*`]);
  if (roleArns.length > 0) allow(issuer, ['sts:AssumeRole'], roleArns);
  NagSuppressions.addResourceSuppressions(
    issuer.role!,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'route53:ListHostedZones supports no resource (IAM requires "*"); route53:GetChange takes change IDs that exist only after each change, so it is limited to change/*.',
        appliesTo: ['Resource::*', 'Resource::arn:<AWS::Partition>:route53:::change/*'],
      },
    ],
    true,
  );
}

/**
 * ACM delivery: import and tag only in the regions certificates declare, and only
 * certificates tagged `certkeeper:certificate` with a declared name. A first import must
 * carry that tag (aws:RequestTag; tagging on create is authorised as AddTagsToCertificate
 * too) onto a certificate not yet tagged by any certkeeper; a re-import, and the re-tag
 * that follows it, act only on a certificate already carrying it (aws:ResourceTag). Only
 * certkeeper's two tag keys may be set (aws:TagKeys). No grant when no certificate
 * declares acmRegions.
 */
export function grantAcmImports(
  scope: Construct,
  issuer: lambda.Function,
  certificates: readonly CertificateSpec[],
): void {
  const importing = certificates.filter((c) => (c.delivery?.acmRegions.length ?? 0) > 0);
  if (importing.length === 0) return;
  // CloudFront (which reads ACM in us-east-1 only) takes RSA 1024-4096 and ECDSA P-256
  // (ACM's import prerequisites); ALB takes every key ACM imports. A warning, not an
  // error: the certificate may be meant for an ALB in us-east-1.
  for (const c of importing) {
    if (CLOUDFRONT_REFUSES.includes(c.keyType) && c.delivery!.acmRegions.includes('us-east-1')) {
      Annotations.of(scope).addWarningV2(
        'certkeeper:acm-cloudfront-key',
        `certificate "${c.name}" (${c.keyType}) is imported into ACM in us-east-1, but CloudFront uses only RSA and ECDSA P-256 certificates (ALB accepts it). Use keyType ecdsa-p256 or an RSA key type if CloudFront is to serve it.`,
      );
    }
  }
  const regions = [...new Set(importing.flatMap((c) => c.delivery!.acmRegions))].sort();
  const names = importing.map((c) => c.name).sort();
  // IAM allows 10,240 characters of inline policy per role: past a few dozen names, any
  // certkeeper-tagged certificate in the declared regions, rather than each by name.
  const tagIs = (key: string): Record<string, Record<string, unknown>> =>
    names.join('').length <= 2000 ? { StringEquals: { [key]: names } } : { StringLike: { [key]: '?*' } };
  const arns = regions.map((r) => `arn:${Aws.PARTITION}:acm:${r}:${Aws.ACCOUNT_ID}:certificate/*`);
  const actions = ['acm:ImportCertificate', 'acm:AddTagsToCertificate'];
  const onlyOurKeys = {
    'ForAllValues:StringEquals': { 'aws:TagKeys': [ACM_TAG_CERTIFICATE, ACM_TAG_SERIAL] },
  };
  allow(issuer, actions, arns, {
    ...tagIs(`aws:RequestTag/${ACM_TAG_CERTIFICATE}`),
    Null: { [`aws:ResourceTag/${ACM_TAG_CERTIFICATE}`]: 'true' },
    ...onlyOurKeys,
  });
  allow(issuer, actions, arns, { ...tagIs(`aws:ResourceTag/${ACM_TAG_CERTIFICATE}`), ...onlyOurKeys });
  NagSuppressions.addResourceSuppressions(
    issuer.role!,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'ACM assigns certificate IDs at the first import, so certificates are matched by region and by the certkeeper:certificate tag (request tag on the first import, resource tag after), not by ID.',
        appliesTo: regions.map(
          (r) => `Resource::arn:<AWS::Partition>:acm:${r}:<AWS::AccountId>:certificate/*`,
        ),
      },
    ],
    true,
  );
}
