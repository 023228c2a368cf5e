import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DUE_INDEX_NAME } from '../../shared/dynamo/table.js';
import {
  exampleConfigInput,
  fullConfigInput,
  resourcesOf,
  roleStatements,
  synth,
  type Synthesized,
} from '../support/synth.js';

type Statement = Record<string, unknown>;
const actionsOf = (st: Statement): string[] => [st.Action].flat() as string[];
const resourceText = (st: Statement): string => JSON.stringify(st.Resource);
/** Every action a role may take, with the resources (as JSON) it may take it on. */
const grants = (statements: Statement[]): Map<string, string[]> => {
  const map = new Map<string, string[]>();
  for (const st of statements) {
    expect(st.Effect).toBe('Allow');
    for (const action of actionsOf(st)) map.set(action, [...(map.get(action) ?? []), resourceText(st)]);
  }
  return map;
};
/** The actions of one service a role may take, sorted. */
const serviceActions = (g: Map<string, string[]>, service: string): string[] =>
  [...g.keys()].filter((a) => a.startsWith(`${service}:`)).sort();
const statementWith = (statements: Statement[], action: string): Statement => {
  const found = statements.find((st) => actionsOf(st).includes(action));
  expect(found, action).toBeDefined();
  return found!;
};

describe('least privilege, example config', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  it('issuer: Route53 changes only to _acme-challenge TXT records in the configured zone', () => {
    const statements = roleStatements(s.template, 'Issuer');
    const change = statementWith(statements, 'route53:ChangeResourceRecordSets');
    expect(actionsOf(change)).toEqual(['route53:ChangeResourceRecordSets']);
    expect(resourceText(change)).toContain(':route53:::hostedzone/Z0123456789EXAMPLE');
    expect(change.Condition).toEqual({
      'ForAllValues:StringLike': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['_acme-challenge.*'],
      },
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
        'route53:ChangeResourceRecordSetsActions': ['CREATE', 'UPSERT', 'DELETE'],
      },
    });
    const read = statementWith(statements, 'route53:ListResourceRecordSets');
    expect(actionsOf(read).sort()).toEqual(['route53:GetHostedZone', 'route53:ListResourceRecordSets']);
    expect(resourceText(read)).toContain('hostedzone/Z0123456789EXAMPLE');
    expect(statementWith(statements, 'route53:ListHostedZones').Resource).toBe('*');
    expect(resourceText(statementWith(statements, 'route53:GetChange'))).toContain(':route53:::change/*');
    // No cross-account role configured: no sts at all.
    expect(grants(statements).has('sts:AssumeRole')).toBe(false);
  });

  it('issuer: S3 objects by prefix, deletes only challenge tokens and kept order keys, may list the bucket (404, not 403)', () => {
    const statements = roleStatements(s.template, 'Issuer');
    const g = grants(statements);
    for (const action of ['s3:GetObject', 's3:PutObject']) {
      const resources = g.get(action)!.join();
      expect(resources).toContain('/certificates/*');
      expect(resources).toContain('/challenges/http-01/*');
      expect(resources).toContain('/challenges/tls-alpn-01/*');
      expect(resources).toContain('/accounts/*');
      expect(resources).not.toMatch(/Arn"\]\},"\/\*"/); // never the whole bucket
    }
    expect(g.get('s3:DeleteObject')!.join()).toMatch(/challenges\/http-01\/\*/);
    expect(g.get('s3:DeleteObject')!.join()).toMatch(/challenges\/tls-alpn-01\/\*/);
    expect(g.get('s3:DeleteObject')!.join()).toMatch(/certificates\/\*\/pending\/\*/);
    // Never a serial's files, a manifest or an account.
    expect(g.get('s3:DeleteObject')!.join()).not.toMatch(/accounts|certificates\/\*"/);
    expect(g.get('s3:PutObjectTagging')!.join()).toMatch(/\/certificates\/\*/);
    // Unconditioned: a missing account or manifest must read as 404 on the first issuance.
    const list = statementWith(statements, 's3:ListBucket');
    expect(list.Condition).toBeUndefined();
    expect(JSON.stringify(list.Resource)).not.toContain('/*');
    expect([...g.keys()].filter((a) => a.includes('*'))).toEqual([]);
  });

  it('issuer: its table (no index, no delete), its key, publish to the events topic only, consume its queue', () => {
    const g = grants(roleStatements(s.template, 'Issuer'));
    expect(serviceActions(g, 'dynamodb')).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    expect(g.get('dynamodb:GetItem')!.join()).toMatch(/IssuerTable.*"Arn"\]\}$/);
    expect(g.get('sns:Publish')).toHaveLength(1);
    expect(g.get('sns:Publish')![0]).toMatch(/^\{"Ref":"IssuerEvents[0-9A-F]{8}"\}$/);
    for (const action of ['kms:Decrypt', 'kms:GenerateDataKey']) {
      expect(g.get(action)!.every((r) => /IssuerKey/.test(r))).toBe(true);
    }
    expect(g.get('sqs:ReceiveMessage')!.join()).toMatch(/IssuerIssuerQueue/);
    expect(g.has('sqs:SendMessage')).toBe(false);
    expect(g.has('secretsmanager:GetSecretValue')).toBe(false);
  });

  it('fleet: reads agent reports and its status object, writes only the status, reads the inventory, publishes events', () => {
    const g = grants(roleStatements(s.template, 'Fleet'));
    expect(serviceActions(g, 'dynamodb')).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:Scan',
    ]);
    // It deletes only in the fleet table (the inbox of an agent gone), never an inventory item.
    expect(g.get('dynamodb:DeleteItem')!.join()).toMatch(/IssuerFleetTable/);
    expect(g.get('dynamodb:DeleteItem')!.join()).not.toMatch(/IssuerTable[0-9A-F]{8}/);
    expect(g.get('sqs:SendMessage')!.join()).toMatch(/IssuerDeliverQueue/);
    expect(serviceActions(g, 's3')).toEqual(['s3:GetObject', 's3:ListBucket', 's3:PutObject']);
    const reads = g.get('s3:GetObject')!.join();
    expect(reads).toContain('/agents/*');
    expect(reads).toContain('/fleet/status.json');
    expect(reads).not.toMatch(/certificates|accounts|challenges/);
    expect(g.get('s3:PutObject')).toHaveLength(1);
    expect(g.get('s3:PutObject')![0]).toMatch(/\/fleet\/status\.json"\]\]\}$/);
    expect(g.get('sns:Publish')![0]).toMatch(/^\{"Ref":"IssuerEvents[0-9A-F]{8}"\}$/);
  });

  it('scheduler: queries the due index, writes the heartbeat, sends to the queue; no S3', () => {
    const g = grants(roleStatements(s.template, 'Scheduler'));
    expect(g.get('dynamodb:Query')!.join()).toContain(`/index/${DUE_INDEX_NAME}`);
    expect(g.has('dynamodb:PutItem')).toBe(true);
    expect(g.has('dynamodb:Scan')).toBe(true); // the hourly stats
    expect(g.has('dynamodb:DeleteItem')).toBe(false);
    expect(g.get('sqs:SendMessage')!.join()).toMatch(/IssuerIssuerQueue/);
    expect(
      [...g.keys()].filter((a) => a.startsWith('s3:') || a.startsWith('sns:') || a.startsWith('route53:')),
    ).toEqual([]);
  });

  it('inventory-sync: reads and updates its table, never deletes; notifier: publishes to notifications only', () => {
    const sync = grants(roleStatements(s.template, 'InventorySync'));
    expect(serviceActions(sync, 'dynamodb')).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
    ]);
    const notifier = grants(roleStatements(s.template, 'Notifier'));
    expect(notifier.get('sns:Publish')!.join()).toMatch(/IssuerNotifications/);
    expect([...notifier.keys()].filter((a) => /^(s3|dynamodb|sqs|secretsmanager):/.test(a))).toEqual([
      'sqs:SendMessage', // its dead-letter queue only:
      'secretsmanager:GetSecretValue', // the example config's webhook URL secret only:
    ]);
    expect(notifier.get('sqs:SendMessage')).toEqual([expect.stringContaining('"IssuerIssuerDeadLetters')]);
    expect(notifier.get('secretsmanager:GetSecretValue')).toEqual([
      expect.stringMatching(/secret:certkeeper\/webhook-\?{6}"?$/),
    ]);
  });

  it("agents: no resource per agent; one role, from this stack's trust anchor only, each session scoped by its CN", () => {
    // Nothing per agent: no queue, subscription or managed policy named after one.
    expect(resourcesOf(s.template, 'AWS::IAM::ManagedPolicy')).toEqual([]);
    expect(Object.keys(s.template.toJSON().Resources).filter((id) => /Web1|Proxy/.test(id))).toEqual([]);
    // One subscription for the whole fleet: the deliver queue, certificate issuances only.
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      RawMessageDelivery: true,
      FilterPolicy: { type: ['certificate.issued', 'certificate.renewed'] },
      Endpoint: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IssuerDeliverQueue'), 'Arn'] },
    });
    const [, role] = resourcesOf(s.template, 'AWS::IAM::Role').find(([id]) =>
      id.startsWith('IssuerAgentRole'),
    )!;
    const trust = (role.Properties.AssumeRolePolicyDocument as { Statement: Statement[] }).Statement;
    expect(trust.flatMap(actionsOf).sort()).toEqual([
      'sts:AssumeRole',
      'sts:SetSourceIdentity',
      'sts:TagSession',
    ]);
    for (const st of trust) {
      expect(st.Principal).toEqual({ Service: 'rolesanywhere.amazonaws.com' });
      // Without it any trust anchor in the account could hand out this role.
      expect(st.Condition).toEqual({
        ArnEquals: {
          'aws:SourceArn': {
            'Fn::GetAtt': [expect.stringMatching(/^IssuerAgentTrustAnchor/), 'TrustAnchorArn'],
          },
        },
      });
    }
    const g = grants(roleStatements(s.template, 'Agent'));
    expect([...g.keys()].sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'kms:Decrypt',
      's3:GetObject',
    ]);
    const objects = g.get('s3:GetObject')!.join();
    expect(objects).toContain('/agents/${aws:PrincipalTag/x509Subject/CN}/deliveries/*');
    expect(objects).toContain('/challenges/http-01/*');
    expect(objects).toContain('/challenges/tls-alpn-01/*');
    expect(objects).not.toMatch(/certificates|accounts/);
    const statements = roleStatements(s.template, 'Agent');
    expect(statementWith(statements, 'dynamodb:GetItem').Condition).toEqual({
      'ForAllValues:StringEquals': {
        'dynamodb:LeadingKeys': [
          'poll#${aws:PrincipalTag/x509Subject/CN}',
          'inbox#${aws:PrincipalTag/x509Subject/CN}',
        ],
      },
    });
    expect(statementWith(statements, 'dynamodb:PutItem').Condition).toEqual({
      'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['report#${aws:PrincipalTag/x509Subject/CN}'] },
    });
    expect(g.get('dynamodb:GetItem')!.join()).toMatch(/IssuerFleetTable/);
    expect(statementWith(statements, 'kms:Decrypt').Condition).toEqual({
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
      },
    });
    // Sessions of a quarter of an hour: a removed agent's last credentials die soon.
    s.template.hasResourceProperties('AWS::RolesAnywhere::Profile', { DurationSeconds: 900 });
  });
});

describe('least privilege, every option on', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth(fullConfigInput());
  });

  it('issuer: both zones, assumes only the configured zone role, reads only the EAB secret', () => {
    const statements = roleStatements(s.template, 'Issuer');
    const change = resourceText(statementWith(statements, 'route53:ChangeResourceRecordSets'));
    expect(change).toContain('hostedzone/Z0123456789EXAMPLE');
    expect(change).toContain('hostedzone/Z0OTHERACCOUNTZONE');
    expect(statementWith(statements, 'sts:AssumeRole').Resource).toBe(
      'arn:aws:iam::210987654321:role/certkeeper-dns',
    );
    expect(statementWith(statements, 'secretsmanager:GetSecretValue').Resource).toBe(
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:certkeeper/eab-AbC123',
    );
  });

  it('issuer with a CA fallback list: reads each CA’s EAB secret, and the list carries ARNs, never keys', () => {
    const input = fullConfigInput();
    const secret = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbC123`;
    delete input.ca;
    input.cas = [
      {
        name: 'primary',
        directory: 'https://acme.example.net/directory',
        contact: 'pki@example.com',
        eab: { kid: 'k1', hmacKeySecretArn: secret('eab-1') },
      },
      {
        name: 'backup',
        directory: 'https://backup.example.org/dir',
        contact: 'pki@example.com',
        eab: { kid: 'k2', hmacKeySecretArn: secret('eab-2') },
      },
    ];
    input.caFallback = { afterFailures: 3 };
    const { template } = synth(input);
    const read = statementWith(roleStatements(template, 'Issuer'), 'secretsmanager:GetSecretValue');
    expect([read.Resource].flat().sort()).toEqual([secret('eab-1'), secret('eab-2')]);
    const [, issuer] = resourcesOf(template, 'AWS::Lambda::Function').find(([, r]) =>
      String(r.Properties.Description).includes('obtains or renews'),
    )!;
    const vars = (issuer.Properties.Environment as { Variables: Record<string, string> }).Variables;
    expect(JSON.parse(vars.CERTKEEPER_CAS!)).toEqual([
      {
        name: 'primary',
        directoryUrl: 'https://acme.example.net/directory',
        contact: 'pki@example.com',
        eab: { kid: 'k1', hmacKeySecretArn: secret('eab-1') },
      },
      {
        name: 'backup',
        directoryUrl: 'https://backup.example.org/dir',
        contact: 'pki@example.com',
        eab: { kid: 'k2', hmacKeySecretArn: secret('eab-2') },
      },
    ]);
    expect(JSON.parse(vars.CERTKEEPER_CA_FALLBACK!)).toEqual({ afterFailures: 3, lifetimeShareLeft: 0.2 });
    expect(vars.CERTKEEPER_DIRECTORY_URL).toBe('https://acme.example.net/directory');
  });

  it('notifier: reads only the Telegram, Slack and webhook secrets', () => {
    const secrets = statementWith(roleStatements(s.template, 'Notifier'), 'secretsmanager:GetSecretValue');
    expect([secrets.Resource].flat().sort()).toEqual([
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:certkeeper/slack-AbC123',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:certkeeper/telegram-AbC123',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:certkeeper/webhook-AbC123',
    ]);
  });

  it('widens a partial secret ARN by its six-character suffix only', () => {
    const input = fullConfigInput();
    input.alerts = { slackWebhookSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack' };
    const { template } = synth(input);
    expect(
      statementWith(roleStatements(template, 'Notifier'), 'secretsmanager:GetSecretValue').Resource,
    ).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-??????');
  });

  it('a certificate naming its own zone adds that zone; no DNS-01 at all grants no Route53', () => {
    const withZone = exampleConfigInput();
    withZone.hostedZones = [];
    withZone.certificates = [
      { name: 'web-1', identifiers: ['203.0.113.10'] },
      { name: 'site', identifiers: ['example.com'], hostedZoneId: 'ZCERTZONE' },
    ];
    const zoned = roleStatements(synth(withZone).template, 'Issuer');
    expect(resourceText(statementWith(zoned, 'route53:ChangeResourceRecordSets'))).toContain(
      'hostedzone/ZCERTZONE',
    );

    const ipOnly = exampleConfigInput();
    ipOnly.hostedZones = [];
    ipOnly.agents = [];
    ipOnly.certificates = [{ name: 'web-1', identifiers: ['203.0.113.10'] }];
    const statements = roleStatements(synth(ipOnly).template, 'Issuer');
    expect(statements.flatMap(actionsOf).filter((a) => a.startsWith('route53:'))).toEqual([]);
  });
});
