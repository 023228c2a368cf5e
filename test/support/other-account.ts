/**
 * A second AWS account in moto. moto ties credentials from AssumeRole to the account in the
 * role's ARN and keeps each account's resources apart, so a hosted zone made here exists
 * only in that account and every call about it must go through a role there to succeed.
 * moto accepts any credentials: this shows the mechanism, not that IAM would allow it.
 */
import { Route53Client, type Route53ClientConfig } from '@aws-sdk/client-route-53';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { peers } from '../../scripts/test-kit/peers.js';

export const OTHER_ACCOUNT = '210987654321';
/** The keys moto maps to its default account (this one). */
export const TEST_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

export const stsClient = (): STSClient =>
  new STSClient({ endpoint: peers().motoEndpoint, region: peers().region, credentials: TEST_CREDENTIALS });

/** The other account's credentials, as its administrator would have them. */
export async function otherAccountCredentials() {
  const out = await stsClient().send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${OTHER_ACCOUNT}:role/OrganizationAccountAccessRole`,
      RoleSessionName: 'setup',
    }),
  );
  const c = out.Credentials!;
  return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
}

/** Route53 in moto with these credentials: the other account's administrator's, or a role's. */
export const otherAccountRoute53 = (credentials: Route53ClientConfig['credentials']): Route53Client =>
  new Route53Client({ endpoint: peers().motoEndpoint, region: peers().region, credentials });

/**
 * IAM CreateRole as a bare query request (the project has no IAM client). moto routes it by
 * the credential scope and picks the account by the access key; it checks no signature.
 */
export async function createRole(accessKeyId: string, name: string): Promise<string> {
  const { motoEndpoint, region } = peers();
  const trust = {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:root' }, Action: 'sts:AssumeRole' },
    ],
  };
  const res = await fetch(motoEndpoint, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
      Authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/20260101/${region}/iam/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams({
      Action: 'CreateRole',
      Version: '2010-05-08',
      RoleName: name,
      AssumeRolePolicyDocument: JSON.stringify(trust),
    }),
  });
  const body = await res.text();
  const arn = /<Arn>([^<]+)<\/Arn>/.exec(body)?.[1];
  if (res.status !== 200 || !arn) throw new Error(`IAM CreateRole in moto answered ${res.status}: ${body}`);
  return arn;
}
