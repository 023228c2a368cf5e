/**
 * The one agent role every agent's Roles Anywhere session assumes: what a session may reach
 * is what its certificate names (the CN principal tag), so no agent needs a policy of its own.
 */
import { Aws, Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { inboxKey, pollKey, reportKey } from '../../shared/dynamo/fleet-table.js';
import { HTTP01_PREFIX, TLSALPN01_PREFIX, agentPrefix } from '../../shared/store/layout.js';
import { logicalIdOf } from './lambda.js';
import type { IssuerStorage } from './storage.js';

/**
 * What a session's certificate says, as the agent role's policies read it: Roles Anywhere
 * maps the subject's CN to this principal tag. The CA signs only names of lower-case
 * letters, digits and hyphens (shared/model/delivery.ts AGENT_NAME_PATTERN), so the tag can
 * never carry a `*` or `?` that would widen a resource pattern.
 */
export const AGENT_NAME_TAG = '${aws:PrincipalTag/x509Subject/CN}';

export interface AgentRoleParts {
  /** The stack's trust anchor: the only one whose sessions may assume the role. */
  trustAnchorArn: string;
  bucket: IssuerStorage['bucket'];
  key: kms.Key;
  fleetTable: dynamodb.Table;
}

/**
 * The agent role. Trust: Roles Anywhere, for sessions from this stack's trust anchor only
 * (aws:SourceArn; without it any trust anchor in the account could assume it). Access:
 * each session its own name's objects and items, through the CN principal tag.
 */
export function createAgentRole(
  scope: Construct,
  { trustAnchorArn, bucket, key, fleetTable }: AgentRoleParts,
): iam.Role {
  const principal = new iam.ServicePrincipal('rolesanywhere.amazonaws.com');
  const fromOurAnchor = { ArnEquals: { 'aws:SourceArn': trustAnchorArn } };
  const role = new iam.Role(scope, 'AgentRole', {
    assumedBy: principal.withConditions(fromOurAnchor),
    description:
      'certkeeper agents (through IAM Roles Anywhere): each session reaches only what its certificate names',
    maxSessionDuration: Duration.hours(1),
  });
  role.assumeRolePolicy!.addStatements(
    new iam.PolicyStatement({
      principals: [principal],
      actions: ['sts:TagSession', 'sts:SetSourceIdentity'],
      conditions: fromOurAnchor,
    }),
  );
  const me = AGENT_NAME_TAG;
  const objectPatterns = [`${agentPrefix(me)}deliveries/*`, `${HTTP01_PREFIX}*`, `${TLSALPN01_PREFIX}*`];
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'OwnDeliveriesAndChallenges',
      actions: ['s3:GetObject'],
      // Challenge objects are public by design (RFC 8555 §8.3 key authorizations, RFC 8737
      // validation certificates with throwaway keys): any agent may answer any of them.
      resources: objectPatterns.map((p) => bucket.arnForObjects(p)),
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'DecryptThroughS3',
      actions: ['kms:Decrypt'],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'OwnInbox',
      actions: ['dynamodb:GetItem'],
      resources: [fleetTable.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [pollKey(me), inboxKey(me)] } },
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'OwnReport',
      actions: ['dynamodb:PutItem'],
      resources: [fleetTable.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [reportKey(me)] } },
    }),
  );
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          "Each session reaches agents/<its own CN>/deliveries/* (serials are not known in advance) and the challenge prefixes, whose objects are public by design; the CN comes from a certificate certkeeper's CA signed for that name only.",
        // cdk-nag writes a policy variable ${x} as <x> in its findings.
        appliesTo: objectPatterns.map(
          (p) => `Resource::<${logicalIdOf(bucket)}.Arn>/${p.replace(/\$\{([^}]+)\}/g, '<$1>')}`,
        ),
      },
    ],
    true,
  );
  return role;
}
