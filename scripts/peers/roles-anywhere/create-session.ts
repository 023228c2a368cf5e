/**
 * CreateSession (`POST /sessions`), as the stand-in answers it: the signature, the trust
 * anchor and profile, the certificate and its revocation, then real temporary credentials
 * from moto's STS AssumeRole with the principal tags and source identity IAM Roles Anywhere
 * sets. Parameters are read from the query string or the JSON body, as the API accepts both
 * (aws_signing_helper sends the ARNs in the query, durationSeconds in the body).
 */
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import { randomUUID } from 'node:crypto';
import type { ControlPlane, Reply } from './control-plane.js';
import { checkCertificate, commonName, principalTags, serialOf } from './certificates.js';
import { accessDenied, integerField, invalid, jsonBody, notFound, stringField } from './http.js';
import { type ReceivedRequest, type SignatureTrace, verifyRequestSignature } from './signature.js';

/** A session the stand-in issued: what a policy evaluator needs about its credentials. */
export interface IssuedSession {
  readonly accessKeyId: string;
  readonly roleArn: string;
  readonly roleSessionName: string;
  readonly sourceIdentity: string | undefined;
  readonly principalTags: Readonly<Record<string, string>>;
  readonly expiration: string;
  readonly trustAnchorArn: string;
  readonly profileArn: string;
  /** The certificate serial, decimal (as in the request's Credential field). */
  readonly serial: string;
  readonly issuedAt: string;
}

export interface SessionContext {
  readonly controlPlane: ControlPlane;
  readonly region: string;
  readonly accountId: string;
  readonly sts: STSClient;
  readonly now: Date;
  readonly trace: SignatureTrace;
  readonly subjects: Map<string, string>;
}

export async function createSession(
  request: ReceivedRequest,
  ctx: SessionContext,
): Promise<Reply & { session: IssuedSession }> {
  // Authentication first: nothing of an unsigned or altered request is looked at.
  const signed = verifyRequestSignature(request, ctx.region, ctx.now, ctx.trace);
  const query = new URL(request.url, 'https://stand-in').searchParams;
  const body = jsonBody(request.body);
  const param = (name: string) => query.get(name) ?? stringField(body, name);
  const profileArn = param('profileArn');
  const roleArn = param('roleArn');
  const trustAnchorArn = param('trustAnchorArn');
  for (const [name, value] of [
    ['profileArn', profileArn],
    ['roleArn', roleArn],
    ['trustAnchorArn', trustAnchorArn],
  ] as const) {
    if (!value)
      throw invalid(
        `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`,
      );
  }
  const requested = integerField(
    query.has('durationSeconds') ? Object.fromEntries(query) : body,
    'durationSeconds',
  );
  if (requested !== undefined && (requested < 900 || requested > 43_200)) {
    throw invalid('durationSeconds must be between 900 and 43200');
  }

  const anchor = ctx.controlPlane.trustAnchorByArn(trustAnchorArn!);
  if (!anchor) throw notFound(`Trust anchor ${trustAnchorArn} not found`);
  if (!anchor.enabled) throw accessDenied('Untrusted signing certificate: the trust anchor is disabled');
  const profile = ctx.controlPlane.profileByArn(profileArn!);
  if (!profile) throw notFound(`Profile ${profileArn} not found`);
  if (!profile.enabled) throw accessDenied('Profile is disabled');
  if (!profile.roleArns.includes(roleArn!)) throw accessDenied('Role is not associated with the profile');
  if (stringField(body, 'roleSessionName') !== undefined) {
    throw accessDenied('roleSessionName is not accepted by the profile (acceptRoleSessionName is not set)');
  }

  checkCertificate(signed.certificate, signed.chain, anchor, [...ctx.controlPlane.crls.values()], ctx.now);

  const tags = principalTags(signed.certificate);
  const sourceIdentity = commonName(signed.certificate);
  // The session name AWS gives: the certificate serial in hex (what CloudTrail shows).
  const roleSessionName = BigInt(`0x${signed.certificate.serialNumber}`).toString(16);
  const duration = Math.min(requested ?? profile.durationSeconds, profile.durationSeconds);
  const assumed = await ctx.sts
    .send(
      new AssumeRoleCommand({
        RoleArn: roleArn!,
        RoleSessionName: roleSessionName,
        DurationSeconds: duration,
        SourceIdentity: sourceIdentity,
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    )
    .catch((err: Error) => {
      throw accessDenied(`Unable to assume role ${roleArn}: ${err.message}`);
    });
  const credentials = assumed.Credentials;
  if (
    !credentials?.AccessKeyId ||
    !credentials.SecretAccessKey ||
    !credentials.SessionToken ||
    !credentials.Expiration
  ) {
    throw accessDenied(`Unable to assume role ${roleArn}: STS answered without credentials`);
  }
  const subject = signed.certificate.subject;
  let subjectId = ctx.subjects.get(subject);
  if (!subjectId) ctx.subjects.set(subject, (subjectId = randomUUID()));
  const session: IssuedSession = {
    accessKeyId: credentials.AccessKeyId,
    roleArn: roleArn!,
    roleSessionName,
    sourceIdentity,
    principalTags: tags,
    expiration: credentials.Expiration.toISOString(),
    trustAnchorArn: trustAnchorArn!,
    profileArn: profileArn!,
    serial: serialOf(signed.certificate),
    issuedAt: ctx.now.toISOString(),
  };
  return {
    status: 201,
    session,
    body: {
      credentialSet: [
        {
          assumedRoleUser: {
            arn: assumed.AssumedRoleUser?.Arn,
            assumedRoleId: assumed.AssumedRoleUser?.AssumedRoleId,
          },
          credentials: {
            accessKeyId: credentials.AccessKeyId,
            secretAccessKey: credentials.SecretAccessKey,
            sessionToken: credentials.SessionToken,
            expiration: session.expiration,
          },
          packedPolicySize: assumed.PackedPolicySize ?? 0,
          roleArn,
          ...(sourceIdentity !== undefined ? { sourceIdentity } : {}),
        },
      ],
      subjectArn: `arn:aws:rolesanywhere:${ctx.region}:${ctx.accountId}:subject/${subjectId}`,
    },
  };
}
