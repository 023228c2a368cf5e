/**
 * Least privilege, decided by a real policy evaluator (@cloud-copilot/iam-simulate): the
 * synthesized template's references are resolved to the ARNs the test's resources have in
 * a fake account, each principal's identity policies and the resource policies (bucket,
 * key, topics, queues) are taken from it, and every AWS call recorded by aws-recorder.ts is
 * turned into the IAM request(s) it makes: action, resource ARN and the values of the
 * condition keys the policies use. A KMS-encrypted bucket, queue or topic adds the KMS
 * request the service makes with the caller's credentials (kms:ViaService).
 */
import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import type { RecordedCall } from './aws-recorder.js';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

type Json = unknown;
interface CfnResource {
  Type: string;
  Properties?: Record<string, Json>;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
}
interface PolicyDocument {
  Version?: string;
  Statement: Record<string, Json>[];
}

/** One IAM request: what AWS authorizes for one call (a call may make several). */
export interface IamRequest {
  action: string;
  resource: string;
  context: Record<string, string | string[]>;
  /** What the call was, for messages: "S3 GetObject certificates/web/current.json". */
  call: string;
}

/** The physical name each stateful resource has in the test (by logical-ID prefix). */
export type PhysicalNames = Record<string, string>;

/**
 * Resolves Ref / Fn::GetAtt / Fn::Join / Fn::Select / Fn::Split / Fn::Sub-free values of the
 * template to strings. Resources named in `names` (logical-ID prefix -> physical name) get
 * that name; any other gets its logical ID as name, so nothing resolves to a real resource
 * of the test by accident.
 */
export class TemplateResolver {
  constructor(
    private readonly template: CfnTemplate,
    private readonly names: PhysicalNames,
  ) {}

  private nameOf(logicalId: string): string {
    const prefix = Object.keys(this.names)
      .filter((p) => logicalId.startsWith(p))
      .sort((a, b) => b.length - a.length)[0];
    return prefix !== undefined ? this.names[prefix]! : logicalId.toLowerCase();
  }

  private typeOf(logicalId: string): string {
    const resource = this.template.Resources[logicalId];
    if (!resource) throw new Error(`the template has no resource ${logicalId}`);
    return resource.Type;
  }

  ref(logicalId: string): string {
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': REGION,
      'AWS::AccountId': ACCOUNT,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': 'Test',
    };
    if (pseudo[logicalId]) return pseudo[logicalId];
    const name = this.nameOf(logicalId);
    switch (this.typeOf(logicalId)) {
      case 'AWS::SQS::Queue':
        return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}`;
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${REGION}:${ACCOUNT}:${name}`;
      case 'AWS::IAM::ManagedPolicy':
        return `arn:aws:iam::${ACCOUNT}:policy/${name}`;
      case 'AWS::KMS::Key':
        return name;
      default:
        return name;
    }
  }

  arn(logicalId: string): string {
    const name = this.nameOf(logicalId);
    switch (this.typeOf(logicalId)) {
      case 'AWS::S3::Bucket':
        return `arn:aws:s3:::${name}`;
      case 'AWS::DynamoDB::Table':
        return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`;
      case 'AWS::SQS::Queue':
        return `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${REGION}:${ACCOUNT}:${name}`;
      case 'AWS::KMS::Key':
        return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${name}`;
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${ACCOUNT}:role/${name}`;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
      case 'AWS::Logs::LogGroup':
        return `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${name}:*`;
      default:
        return `arn:aws:unknown:${REGION}:${ACCOUNT}:${name}`;
    }
  }

  resolve(value: Json): Json {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const o = value as Record<string, Json>;
    if ('Ref' in o) return this.ref(o.Ref as string);
    if ('Fn::GetAtt' in o) {
      const [id, attr] = o['Fn::GetAtt'] as [string, string];
      if (attr === 'Arn') return this.arn(id);
      if (attr === 'QueueName' || attr === 'TopicName') return this.nameOf(id);
      if (attr === 'QueueUrl') return this.ref(id);
      if (attr === 'TrustAnchorArn')
        return `arn:aws:rolesanywhere:${REGION}:${ACCOUNT}:trust-anchor/${this.nameOf(id)}`;
      if (attr === 'ProfileArn')
        return `arn:aws:rolesanywhere:${REGION}:${ACCOUNT}:profile/${this.nameOf(id)}`;
      if (attr === 'CertificatePem') return `(the CA certificate of ${id})`;
      throw new Error(`Fn::GetAtt ${id}.${attr} is not resolved here`);
    }
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, Json[]];
      return (this.resolve(parts) as string[]).join(sep);
    }
    if ('Fn::Split' in o) {
      const [sep, text] = o['Fn::Split'] as [string, Json];
      return (this.resolve(text) as string).split(sep);
    }
    if ('Fn::Select' in o) {
      const [index, list] = o['Fn::Select'] as [number, Json];
      return (this.resolve(list) as string[])[Number(index)];
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, this.resolve(v)]));
  }
}

/** Where a principal's identity policies come from in the template. */
export type PrincipalSource =
  /** A role: its AWS::IAM::Policy resources, inline policies and attached managed policies. */
  | { role: string }
  /** A managed policy the operator attaches to a server's role (agents). */
  | { managedPolicy: string };

export interface PolicySet {
  identity: Record<string, { name: string; policy: PolicyDocument }[]>;
  /** Resource ARN (bucket, key, topic, queue) -> its resource policy. */
  resources: Map<string, PolicyDocument>;
  /** The principal's ARN in the fake account. */
  principalArn: Record<string, string>;
}

const byPrefix = (template: CfnTemplate, type: string, prefix: string): [string, CfnResource][] =>
  Object.entries(template.Resources).filter(([id, r]) => r.Type === type && id.startsWith(prefix));

/** Every principal's identity policies and every resource policy of the template, resolved. */
export function policiesOf(
  template: CfnTemplate,
  resolver: TemplateResolver,
  principals: Record<string, PrincipalSource>,
): PolicySet {
  const identity: PolicySet['identity'] = {};
  const principalArn: PolicySet['principalArn'] = {};
  for (const [principal, source] of Object.entries(principals)) {
    const policies: { name: string; policy: PolicyDocument }[] = [];
    const doc = (d: Json) => resolver.resolve(d) as PolicyDocument;
    if ('role' in source) {
      const roles = byPrefix(template, 'AWS::IAM::Role', source.role);
      if (roles.length !== 1) throw new Error(`${principal}: ${roles.length} roles match ${source.role}`);
      const [roleId, role] = roles[0]!;
      for (const [id, policy] of Object.entries(template.Resources)) {
        if (policy.Type !== 'AWS::IAM::Policy') continue;
        const attached = (policy.Properties!.Roles as { Ref?: string }[]).some((r) => r.Ref === roleId);
        if (attached) policies.push({ name: id, policy: doc(policy.Properties!.PolicyDocument) });
      }
      for (const p of (role.Properties?.Policies as { PolicyName: string; PolicyDocument: Json }[]) ?? [])
        policies.push({ name: p.PolicyName, policy: doc(p.PolicyDocument) });
      for (const arn of (role.Properties?.ManagedPolicyArns as Json[]) ?? []) {
        const id = (arn as { Ref?: string }).Ref;
        if (!id) throw new Error(`${principal}: an AWS managed policy is attached (${JSON.stringify(arn)})`);
        policies.push({ name: id, policy: doc(template.Resources[id]!.Properties!.PolicyDocument) });
      }
      principalArn[principal] = resolver.arn(roleId);
    } else {
      const found = byPrefix(template, 'AWS::IAM::ManagedPolicy', source.managedPolicy);
      if (found.length !== 1)
        throw new Error(`${principal}: ${found.length} policies match ${source.managedPolicy}`);
      policies.push({ name: found[0]![0], policy: doc(found[0]![1].Properties!.PolicyDocument) });
      principalArn[principal] = `arn:aws:iam::${ACCOUNT}:role/${principal.replace(/[^\w+=,.@-]/g, '-')}`;
    }
    if (policies.length === 0) throw new Error(`${principal}: no identity policy found`);
    identity[principal] = policies;
  }

  const resources = new Map<string, PolicyDocument>();
  const add = (arn: string, policy: Json) => {
    const resolved = resolver.resolve(policy) as PolicyDocument;
    const existing = resources.get(arn);
    resources.set(
      arn,
      existing ? { ...existing, Statement: [...existing.Statement, ...resolved.Statement] } : resolved,
    );
  };
  for (const [id, r] of Object.entries(template.Resources)) {
    const p = r.Properties ?? {};
    if (r.Type === 'AWS::S3::BucketPolicy')
      add(`arn:aws:s3:::${resolver.resolve(p.Bucket) as string}`, p.PolicyDocument);
    if (r.Type === 'AWS::KMS::Key') add(resolver.arn(id), p.KeyPolicy);
    if (r.Type === 'AWS::SNS::TopicPolicy')
      for (const t of resolver.resolve(p.Topics) as string[]) add(t, p.PolicyDocument);
    if (r.Type === 'AWS::SQS::QueuePolicy')
      for (const url of resolver.resolve(p.Queues) as string[]) add(queueArn(url), p.PolicyDocument);
  }
  return { identity, resources, principalArn };
}

export const queueArn = (url: string): string => {
  const [account, name] = new URL(url).pathname.split('/').filter(Boolean).slice(-2);
  return `arn:aws:sqs:${REGION}:${/^\d{12}$/.test(account ?? '') ? account : ACCOUNT}:${name}`;
};

/** What the test knows about encryption: which KMS key protects what (from the template). */
export interface Encryption {
  keyArn: string;
  /** Bucket names whose objects are SSE-KMS with the key. */
  buckets: string[];
  /** Queue and topic ARNs encrypted with the key. */
  queues: string[];
  topics: string[];
}

const SECURE = { 'aws:SecureTransport': 'true' };

/** The IAM requests one recorded call makes. Unknown operations fail the test, by name. */
export function iamRequests(call: RecordedCall, encryption: Encryption): IamRequest[] {
  const i = call.input as Record<string, unknown> & Record<string, string>;
  const label = `${call.service} ${call.operation}`;
  const req = (
    action: string,
    resource: string,
    context: IamRequest['context'] = {},
    what = '',
  ): IamRequest => ({
    action,
    resource,
    context: { ...SECURE, ...context },
    call: `${label}${what ? ` ${what}` : ''}`,
  });
  const viaKms = (service: string, actions: string[], what: string): IamRequest[] =>
    actions.map((a) =>
      req(
        a,
        encryption.keyArn,
        { 'kms:ViaService': `${service}.${REGION}.amazonaws.com` },
        `${what} (KMS, via ${service})`,
      ),
    );
  switch (call.service) {
    case 'S3': {
      const bucket = i.Bucket!;
      const object = (action: string, kms: string[]) => [
        req(action, `arn:aws:s3:::${bucket}/${i.Key}`, {}, i.Key),
        ...(encryption.buckets.includes(bucket) ? viaKms('s3', kms, i.Key!) : []),
      ];
      switch (call.operation) {
        case 'GetObject':
        case 'HeadObject':
          return object('s3:GetObject', ['kms:Decrypt']);
        case 'PutObject':
          return object('s3:PutObject', ['kms:GenerateDataKey']);
        case 'DeleteObject':
          return [req('s3:DeleteObject', `arn:aws:s3:::${bucket}/${i.Key}`, {}, i.Key)];
        case 'PutObjectTagging':
          return [req('s3:PutObjectTagging', `arn:aws:s3:::${bucket}/${i.Key}`, {}, i.Key)];
        case 'GetObjectTagging':
          return [req('s3:GetObjectTagging', `arn:aws:s3:::${bucket}/${i.Key}`, {}, i.Key)];
        case 'ListObjectsV2':
        case 'ListObjects':
          return [
            req(
              's3:ListBucket',
              `arn:aws:s3:::${bucket}`,
              { 's3:prefix': i.Prefix ?? '' },
              `prefix ${i.Prefix ?? ''}`,
            ),
          ];
        case 'DeleteObjects':
          return ((call.input.Delete as { Objects: { Key: string }[] }).Objects ?? []).map((o) =>
            req('s3:DeleteObject', `arn:aws:s3:::${bucket}/${o.Key}`, {}, o.Key),
          );
      }
      break;
    }
    case 'DynamoDB': {
      const table = (name: string, index?: string) =>
        `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}${index ? `/index/${index}` : ''}`;
      const leading = (key: unknown): IamRequest['context'] => {
        const pk = (key as Record<string, { S?: string }> | undefined)?.pk?.S;
        return pk === undefined ? {} : { 'dynamodb:LeadingKeys': [pk] };
      };
      switch (call.operation) {
        case 'GetItem':
        case 'UpdateItem':
        case 'DeleteItem':
          return [
            req(
              `dynamodb:${call.operation}`,
              table(i.TableName!),
              leading(call.input.Key),
              leadingText(call.input.Key),
            ),
          ];
        case 'PutItem':
          return [
            req(
              'dynamodb:PutItem',
              table(i.TableName!),
              leading(call.input.Item),
              leadingText(call.input.Item),
            ),
          ];
        case 'Query':
        case 'Scan':
          return [req(`dynamodb:${call.operation}`, table(i.TableName!, i.IndexName), {}, i.IndexName ?? '')];
        case 'TransactWriteItems':
          return (
            call.input.TransactItems as Record<string, { TableName: string; Key?: unknown; Item?: unknown }>[]
          ).map((item) => {
            const [kind, body] = Object.entries(item)[0]!;
            const action = {
              ConditionCheck: 'ConditionCheckItem',
              Update: 'UpdateItem',
              Put: 'PutItem',
              Delete: 'DeleteItem',
            }[kind]!;
            const key = body.Key ?? body.Item;
            return req(`dynamodb:${action}`, table(body.TableName), leading(key), leadingText(key));
          });
      }
      break;
    }
    case 'SQS': {
      const arn = queueArn(i.QueueUrl!);
      const encrypted = encryption.queues.includes(arn);
      const name = arn.split(':').pop()!;
      switch (call.operation) {
        case 'SendMessage':
        case 'SendMessageBatch':
          return [
            req('sqs:SendMessage', arn, {}, name),
            ...(encrypted ? viaKms('sqs', ['kms:GenerateDataKey', 'kms:Decrypt'], name) : []),
          ];
        case 'ReceiveMessage':
          return [
            req('sqs:ReceiveMessage', arn, {}, name),
            ...(encrypted ? viaKms('sqs', ['kms:Decrypt'], name) : []),
          ];
        case 'DeleteMessage':
        case 'DeleteMessageBatch':
          return [req('sqs:DeleteMessage', arn, {}, name)];
        case 'GetQueueAttributes':
          return [req('sqs:GetQueueAttributes', arn, {}, name)];
        case 'ChangeMessageVisibility':
        case 'ChangeMessageVisibilityBatch':
          return [req('sqs:ChangeMessageVisibility', arn, {}, name)];
      }
      break;
    }
    case 'SNS':
      if (call.operation === 'Publish' || call.operation === 'PublishBatch') {
        const topic = i.TopicArn!;
        return [
          req('sns:Publish', topic, {}, topic.split(':').pop()),
          ...(encryption.topics.includes(topic)
            ? viaKms('sns', ['kms:GenerateDataKey', 'kms:Decrypt'], topic.split(':').pop()!)
            : []),
        ];
      }
      break;
    case 'Route 53': {
      const zone = (id: string) => `arn:aws:route53:::hostedzone/${id.replace('/hostedzone/', '')}`;
      switch (call.operation) {
        case 'ChangeResourceRecordSets': {
          const changes = (
            call.input.ChangeBatch as {
              Changes: { Action: string; ResourceRecordSet: { Name: string; Type: string } }[];
            }
          ).Changes;
          const names = changes.map((c) => c.ResourceRecordSet.Name.toLowerCase().replace(/\.$/, ''));
          return [
            req(
              'route53:ChangeResourceRecordSets',
              zone(i.HostedZoneId!),
              {
                'route53:ChangeResourceRecordSetsNormalizedRecordNames': names,
                'route53:ChangeResourceRecordSetsRecordTypes': changes.map((c) => c.ResourceRecordSet.Type),
                'route53:ChangeResourceRecordSetsActions': changes.map((c) => c.Action),
              },
              changes
                .map((c) => `${c.Action} ${c.ResourceRecordSet.Type} ${c.ResourceRecordSet.Name}`)
                .join(', '),
            ),
          ];
        }
        case 'ListResourceRecordSets':
        case 'GetHostedZone':
          return [req(`route53:${call.operation}`, zone(i.HostedZoneId ?? i.Id!))];
        case 'ListHostedZones':
        case 'ListHostedZonesByName':
          return [req(`route53:${call.operation}`, '*')];
        case 'GetChange':
          return [req('route53:GetChange', `arn:aws:route53:::change/${i.Id!.replace('/change/', '')}`)];
      }
      break;
    }
    case 'STS':
      if (call.operation === 'AssumeRole') return [req('sts:AssumeRole', i.RoleArn!)];
      break;
    case 'KMS': {
      // Calls made on the caller's own behalf (the agents' CA signing), not through a service.
      const key = i.KeyId!.startsWith('arn:') ? i.KeyId! : `arn:aws:kms:${REGION}:${ACCOUNT}:key/${i.KeyId}`;
      if (['Sign', 'GetPublicKey', 'Verify', 'DescribeKey'].includes(call.operation)) {
        return [req(`kms:${call.operation}`, key)];
      }
      break;
    }
    case 'Secrets Manager':
      if (call.operation === 'GetSecretValue') return [req('secretsmanager:GetSecretValue', i.SecretId!)];
      break;
  }
  throw new Error(`${label}: no IAM mapping for this call; add it to test/support/iam.ts`);
}

const leadingText = (key: unknown): string => (key as { pk?: { S?: string } } | undefined)?.pk?.S ?? '';

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

/** Evaluates one request as `principal`, with the resource's policy when it has one. */
export async function decide(policies: PolicySet, principal: string, request: IamRequest): Promise<Decision> {
  const identityPolicies = policies.identity[principal];
  if (!identityPolicies) throw new Error(`unknown principal ${principal}`);
  const resourceArn = resourcePolicyArn(request.resource);
  const simulation: Simulation = {
    identityPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: resourceArn ? policies.resources.get(resourceArn) : undefined,
    request: {
      principal: policies.principalArn[principal]!,
      action: request.action,
      resource: { resource: request.resource, accountId: ACCOUNT },
      contextVariables: { 'aws:PrincipalAccount': ACCOUNT, ...request.context },
    },
  } as Simulation;
  const response = await runSimulation(simulation, {});
  if (response.resultType === 'error') {
    throw new Error(`${principal} ${request.action} ${request.resource}: ${JSON.stringify(response.errors)}`);
  }
  return response.overallResult as Decision;
}

/** The resource whose policy applies: a bucket's for its objects, else the resource itself. */
function resourcePolicyArn(resource: string): string | undefined {
  if (resource.startsWith('arn:aws:s3:::')) return `arn:aws:s3:::${resource.slice(13).split('/')[0]}`;
  if (/^arn:aws:(kms|sns|sqs):/.test(resource)) return resource;
  return undefined;
}
