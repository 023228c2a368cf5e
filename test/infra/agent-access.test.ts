/**
 * Least privilege per agent without a policy per agent, decided by a real evaluator
 * (@cloud-copilot/iam-simulate) over the synthesized template: the one agent role's
 * policies, with the principal tags Roles Anywhere gives two agents' sessions (their
 * certificates' CN). Each is allowed its own deliveries, inbox and report and the public
 * challenge objects, and denied the other's, every certificate's files, the account keys,
 * the registry and the CA key. Prints the table.
 */
import { describe, expect, it } from 'vitest';
import {
  ACCOUNT,
  type CfnTemplate,
  type Decision,
  decide,
  policiesOf,
  REGION,
  TemplateResolver,
} from '../support/iam.js';
import { exampleConfigInput, synth } from '../support/synth.js';

const BUCKET = 'certs';
const FLEET = 'fleet-table';
const TABLE = 'inventory';
const object = (key: string) => `arn:aws:s3:::${BUCKET}/${key}`;
const item = (table: string, pk: string) => ({
  resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${table}`,
  context: { 'dynamodb:LeadingKeys': [pk] },
});

/** [what, action, resource and context, for agent `me` about agent `other`]. */
const PROBES: [
  string,
  (me: string, other: string) => { action: string; resource: string; context?: Record<string, string[]> },
][] = [
  [
    'read its own delivery',
    (me) => ({ action: 's3:GetObject', resource: object(`agents/${me}/deliveries/site/0A.json`) }),
  ],
  [
    "read the other's delivery",
    (_me, other) => ({ action: 's3:GetObject', resource: object(`agents/${other}/deliveries/site/0A.json`) }),
  ],
  ['read its own inbox', (me) => ({ action: 'dynamodb:GetItem', ...item(FLEET, `inbox#${me}`) })],
  [
    "read the other's inbox",
    (_me, other) => ({ action: 'dynamodb:GetItem', ...item(FLEET, `inbox#${other}`) }),
  ],
  ['read its own poll', (me) => ({ action: 'dynamodb:GetItem', ...item(FLEET, `poll#${me}`) })],
  ['write its own report', (me) => ({ action: 'dynamodb:PutItem', ...item(FLEET, `report#${me}`) })],
  [
    "write the other's report",
    (_me, other) => ({ action: 'dynamodb:PutItem', ...item(FLEET, `report#${other}`) }),
  ],
  ['write its own inbox', (me) => ({ action: 'dynamodb:PutItem', ...item(FLEET, `inbox#${me}`) })],
  [
    'read an http-01 token',
    () => ({ action: 's3:GetObject', resource: object('challenges/http-01/abcdefghijklmnop') }),
  ],
  [
    'read a tls-alpn-01 object',
    () => ({ action: 's3:GetObject', resource: object('challenges/tls-alpn-01/site.example.com') }),
  ],
  [
    'read a private key',
    () => ({ action: 's3:GetObject', resource: object('certificates/site/0A/privkey.pem') }),
  ],
  ['read a manifest', () => ({ action: 's3:GetObject', resource: object('certificates/site/current.json') })],
  [
    'read an ACME account key',
    () => ({ action: 's3:GetObject', resource: object('accounts/acme-v02.api.letsencrypt.org/1.json') }),
  ],
  ['read its registry record', (me) => ({ action: 'dynamodb:GetItem', ...item(TABLE, `agent#${me}`) })],
  [
    'sign with the CA key',
    () => ({ action: 'kms:Sign', resource: `arn:aws:kms:${REGION}:${ACCOUNT}:key/ca-key` }),
  ],
  ['list the bucket', () => ({ action: 's3:ListBucket', resource: `arn:aws:s3:::${BUCKET}` })],
];

const EXPECTED_ALLOWED = new Set([
  'read its own delivery',
  'read its own inbox',
  'read its own poll',
  'write its own report',
  'read an http-01 token',
  'read a tls-alpn-01 object',
]);

describe('the agent role, for two agents told apart by their certificates', () => {
  it('allows each its own and nothing of the other, of the certificates, accounts, registry or CA', async () => {
    const template = synth().template.toJSON() as CfnTemplate;
    const resolver = new TemplateResolver(template, {
      IssuerBucket: BUCKET,
      IssuerFleetTable: FLEET,
      IssuerTable: TABLE,
      IssuerAgentCaKey: 'ca-key',
      IssuerKey: 'stack-key',
    });
    const policies = policiesOf(template, resolver, { agents: { role: 'IssuerAgentRole' } });
    const rows: string[][] = [];
    const wrong: string[] = [];
    for (const [what, probe] of PROBES) {
      const row = [what];
      for (const [me, other] of [
        ['web-7', 'edge-12'],
        ['edge-12', 'web-7'],
      ] as const) {
        const request = probe(me, other);
        const decision: Decision = await decide(policies, 'agents', {
          ...request,
          context: {
            'aws:SecureTransport': 'true',
            'aws:PrincipalTag/x509Subject/CN': me,
            ...request.context,
          },
          call: `${me}: ${what}`,
        });
        row.push(decision === 'Allowed' ? 'allowed' : 'denied');
        if ((decision === 'Allowed') !== EXPECTED_ALLOWED.has(what))
          wrong.push(`${me}: ${what}: ${decision}`);
      }
      rows.push(row);
    }
    const header = ['request', 'web-7', 'edge-12'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    console.log(
      ['', ...[header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')), ''].join('\n'),
    );
    expect(wrong).toEqual([]);
    // Both columns: the same policy gives each agent its own, decided by the tag alone.
    expect(rows.filter((r) => r[1] === 'allowed')).toHaveLength(EXPECTED_ALLOWED.size);
    expect(rows.filter((r) => r[2] === 'allowed')).toHaveLength(EXPECTED_ALLOWED.size);
  });

  it('an agent whose session carries no CN tag is allowed no delivery, inbox or report at all', async () => {
    const template = synth().template.toJSON() as CfnTemplate;
    const policies = policiesOf(
      template,
      new TemplateResolver(template, { IssuerBucket: BUCKET, IssuerFleetTable: FLEET, IssuerTable: TABLE }),
      { agents: { role: 'IssuerAgentRole' } },
    );
    for (const [what, probe] of PROBES.filter(([w]) => w.includes('its own'))) {
      const request = probe('web-7', 'edge-12');
      expect(
        await decide(policies, 'agents', {
          ...request,
          context: { 'aws:SecureTransport': 'true', ...request.context },
          call: what,
        }),
        what,
      ).not.toBe('Allowed');
    }
  });
});

describe('the template with 0, 10 and 10,000 declared agents', () => {
  it('has the same resources and outputs: agents are data, not infrastructure', () => {
    const counts = [0, 10, 10_000].map((n) => {
      const input = exampleConfigInput();
      input.agents = Array.from({ length: n }, (_, i) => ({
        name: `agent-${i}`,
        ...(i % 2 ? { certificates: ['web-1'] } : { labels: { role: 'edge' } }),
      }));
      const json = synth(input).template.toJSON() as {
        Resources: Record<string, { Type: string }>;
        Outputs: object;
      };
      const types = Object.values(json.Resources)
        .map((r) => r.Type)
        .sort()
        .join(',');
      const bytes = JSON.stringify(json).length;
      console.log(
        `${n} agents: ${Object.keys(json.Resources).length} resources, ${Object.keys(json.Outputs).length} outputs, ${bytes} bytes`,
      );
      return {
        resources: Object.keys(json.Resources).length,
        outputs: Object.keys(json.Outputs).length,
        types,
        ids: Object.keys(json.Resources).sort().join(','),
        bytes,
      };
    });
    expect(counts[1]!.resources).toBe(counts[0]!.resources);
    expect(counts[2]!.resources).toBe(counts[0]!.resources);
    expect(counts[2]!.outputs).toBe(counts[0]!.outputs);
    expect(counts[2]!.types).toBe(counts[0]!.types);
    expect(counts[2]!.ids).toBe(counts[0]!.ids);
    // The declared agents ride gzipped in one property: far from CloudFormation's 1 MB.
    expect(counts[2]!.bytes).toBeLessThan(200_000);
  });
});
