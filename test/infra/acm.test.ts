/**
 * The issuer's ACM grants: only in the declared regions, only certificates carrying
 * certkeeper's tag with a declared name, only certkeeper's tag keys, and none at all when
 * nothing is imported into ACM. moto's IAM ignores conditions, so the
 * synthesized statements are evaluated here, over the calls SdkAcmImporter makes, by a
 * small evaluator of exactly the condition operators the stack uses (it throws on any
 * other, so a new operator cannot pass unexamined).
 */
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import type { DeploymentConfigInput } from '../../shared/config/deployment.js';
import { exampleConfigInput, nagFindings, resourcesOf, roleStatements, synth } from '../support/synth.js';

type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, string | string[]>>;
};
const ACCOUNT = '123456789012';

function withAcm(extra: Partial<Record<string, unknown>>[] = []): DeploymentConfigInput {
  const base = exampleConfigInput();
  return {
    ...base,
    certificates: [
      { name: 'web-1', identifiers: ['203.0.113.10'], profile: 'shortlived', acmRegions: ['eu-west-1'] },
      {
        name: 'site',
        identifiers: ['example.com', '*.example.com'],
        acmRegions: ['us-east-1', 'eu-west-1'],
      },
      ...extra,
    ],
  } as DeploymentConfigInput;
}

/** A template ARN (Fn::Join over pseudo parameters) as IAM sees it in this account. */
function resolve(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as { 'Fn::Join'?: [string, unknown[]]; Ref?: string };
  if (v.Ref === 'AWS::Partition') return 'aws';
  if (v.Ref === 'AWS::AccountId') return ACCOUNT;
  if (v['Fn::Join']) return v['Fn::Join'][1].map(resolve).join(v['Fn::Join'][0]);
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}
const glob = (pattern: string, text: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  ).test(text);

interface AcmRequest {
  action: string;
  region: string;
  /** Tags the certificate already has (absent for a first import). */
  resourceTags?: Record<string, string>;
  /** Tags the request sets. */
  requestTags?: Record<string, string>;
}

/** The context keys IAM fills for an ACM request, absent when the request has no such value. */
function contextOf(request: AcmRequest): Record<string, string | string[] | undefined> {
  const context: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(request.resourceTags ?? {})) context[`aws:ResourceTag/${k}`] = v;
  for (const [k, v] of Object.entries(request.requestTags ?? {})) context[`aws:RequestTag/${k}`] = v;
  if (request.requestTags) context['aws:TagKeys'] = Object.keys(request.requestTags);
  return context;
}

/** IAM semantics for the operators used; an absent key fails StringEquals/Like, passes ForAllValues. */
function conditionHolds(
  operator: string,
  key: string,
  expected: string | string[],
  context: ReturnType<typeof contextOf>,
) {
  const want = [expected].flat();
  const got = context[key];
  switch (operator) {
    case 'StringEquals':
      return typeof got === 'string' && want.includes(got);
    case 'StringLike':
      return typeof got === 'string' && want.some((p) => glob(p, got));
    case 'Null':
      return (got === undefined) === (want[0] === 'true');
    case 'ForAllValues:StringEquals':
      return got === undefined || [got].flat().every((g) => want.includes(g));
    default:
      throw new Error(`the evaluator does not know ${operator}: extend it before relying on it`);
  }
}

function allowed(statements: Statement[], request: AcmRequest): boolean {
  const arn = `arn:aws:acm:${request.region}:${ACCOUNT}:certificate/0f1e2d3c-aaaa-bbbb-cccc-000000000001`;
  const context = contextOf(request);
  return statements.some(
    (st) =>
      st.Effect === 'Allow' &&
      [st.Action].flat().includes(request.action) &&
      [st.Resource].flat().some((r) => glob(resolve(r), arn)) &&
      Object.entries(st.Condition ?? {}).every(([op, keys]) =>
        Object.entries(keys).every(([key, expected]) => conditionHolds(op, key, expected, context)),
      ),
  );
}

const TAGS = (name: string, serial = '0A1B') => ({
  'certkeeper:certificate': name,
  'certkeeper:serial': serial,
});
/** SdkAcmImporter's calls: a first import carries its tags (authorised as both actions). */
const firstImport = (region: string, requestTags: Record<string, string>): AcmRequest[] => [
  { action: 'acm:ImportCertificate', region, requestTags },
  { action: 'acm:AddTagsToCertificate', region, requestTags },
];
/** A re-import carries no tags, then the tags are written. */
const reimport = (region: string, resourceTags: Record<string, string>, requestTags = TAGS('site')) => [
  { action: 'acm:ImportCertificate', region, resourceTags },
  { action: 'acm:AddTagsToCertificate', region, resourceTags, requestTags },
];

describe('ACM grants of the issuer', () => {
  const s = synth(withAcm());
  const issuer = roleStatements(s.template, 'Issuer') as Statement[];
  const acmStatements = issuer.filter((st) => [st.Action].flat().some((a) => a.startsWith('acm:')));
  const can = (requests: AcmRequest[]) => requests.every((r) => allowed(issuer, r));

  it('two statements, two actions, one certificate ARN pattern per declared region', () => {
    expect(acmStatements).toHaveLength(2);
    for (const st of acmStatements) {
      expect([st.Action].flat().sort()).toEqual(['acm:AddTagsToCertificate', 'acm:ImportCertificate']);
      expect([st.Resource].flat().map(resolve)).toEqual([
        `arn:aws:acm:eu-west-1:${ACCOUNT}:certificate/*`,
        `arn:aws:acm:us-east-1:${ACCOUNT}:certificate/*`,
      ]);
    }
    expect(acmStatements.map((st) => st.Condition)).toEqual([
      {
        StringEquals: { 'aws:RequestTag/certkeeper:certificate': ['site', 'web-1'] },
        Null: { 'aws:ResourceTag/certkeeper:certificate': 'true' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['certkeeper:certificate', 'certkeeper:serial'] },
      },
      {
        StringEquals: { 'aws:ResourceTag/certkeeper:certificate': ['site', 'web-1'] },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['certkeeper:certificate', 'certkeeper:serial'] },
      },
    ]);
  });

  it('allows what the importer does: a tagged first import, a re-import and re-tag of its own certificate', () => {
    expect(can(firstImport('us-east-1', TAGS('site')))).toBe(true);
    expect(can(firstImport('eu-west-1', TAGS('web-1')))).toBe(true);
    expect(can(reimport('us-east-1', TAGS('site', '0001'), TAGS('site', '0002')))).toBe(true);
  });

  it('refuses other regions, undeclared names, other tag keys and untagged imports', () => {
    expect(can(firstImport('ap-south-1', TAGS('site')))).toBe(false);
    expect(can(reimport('ap-south-1', TAGS('site')))).toBe(false);
    expect(can(firstImport('us-east-1', TAGS('not-declared')))).toBe(false);
    expect(can(firstImport('us-east-1', { ...TAGS('site'), owner: 'me' }))).toBe(false);
    expect(allowed(issuer, { action: 'acm:ImportCertificate', region: 'us-east-1' })).toBe(false);
  });

  it("never touches a certificate that is not certkeeper's, or another deployment's", () => {
    // Someone else's certificate, untagged or tagged otherwise: no re-import into it.
    expect(allowed(issuer, { action: 'acm:ImportCertificate', region: 'us-east-1', resourceTags: {} })).toBe(
      false,
    );
    expect(
      allowed(issuer, { action: 'acm:ImportCertificate', region: 'us-east-1', resourceTags: { team: 'x' } }),
    ).toBe(false);
    const foreign = { 'certkeeper:certificate': 'other-deployment' };
    expect(
      allowed(issuer, { action: 'acm:ImportCertificate', region: 'us-east-1', resourceTags: foreign }),
    ).toBe(false);
    // ...nor take it over by re-tagging it with a declared name.
    expect(
      allowed(issuer, {
        action: 'acm:AddTagsToCertificate',
        region: 'us-east-1',
        resourceTags: foreign,
        requestTags: TAGS('site'),
      }),
    ).toBe(false);
    // The limit of IAM here: a tag-on-create is authorised as AddTagsToCertificate with no
    // resource tag yet, which an untagged certificate also presents; the issuer never calls it so.
    expect(
      allowed(issuer, { action: 'acm:AddTagsToCertificate', region: 'us-east-1', requestTags: TAGS('site') }),
    ).toBe(true);
  });

  it('gives ACM to no other role, and cdk-nag finds nothing unsuppressed', () => {
    const others = resourcesOf(s.template, 'AWS::IAM::Policy')
      .filter(([id]) => !id.startsWith('IssuerIssuerRole'))
      .flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
    expect(others.length).toBeGreaterThan(0);
    expect(others.filter((st) => JSON.stringify(st.Action).includes('acm:'))).toEqual([]);
    expect(nagFindings(synth(withAcm(), { nag: true }).stack)).toEqual([]);
  });

  it('grants nothing for ACM when no certificate declares acmRegions', () => {
    const plain = roleStatements(synth().template, 'Issuer') as Statement[];
    expect(plain.length).toBeGreaterThan(0);
    expect(plain.filter((st) => JSON.stringify(st.Action).includes('acm:'))).toEqual([]);
  });
});

describe('synth warnings for ACM', () => {
  const warnings = (input: DeploymentConfigInput) =>
    Annotations.fromStack(synth(input).stack).findWarning('*', Match.stringLikeRegexp('CloudFront'));

  it('warns when an ecdsa-p384 certificate is imported into us-east-1 (CloudFront cannot use it); RSA 4096 it can', () => {
    const found = warnings(
      withAcm([
        { name: 'cdn', identifiers: ['cdn.example.com'], keyType: 'ecdsa-p384', acmRegions: ['us-east-1'] },
        { name: 'cdn-rsa', identifiers: ['rsa.example.com'], keyType: 'rsa4096', acmRegions: ['us-east-1'] },
      ]),
    );
    expect(found.map((f) => String(f.entry.data).split(' is imported')[0])).toEqual([
      'certificate "cdn" (ecdsa-p384)',
    ]);
    expect(String(found[0]!.entry.data)).toContain(
      'imported into ACM in us-east-1, but CloudFront uses only',
    );
  });

  it('says nothing for P-384 elsewhere, or for P-256, RSA 2048, 3072 and 4096 in us-east-1', () => {
    expect(
      warnings(
        withAcm([
          { name: 'alb', identifiers: ['alb.example.com'], keyType: 'ecdsa-p384', acmRegions: ['eu-west-1'] },
          { name: 'cdn', identifiers: ['cdn.example.com'], keyType: 'rsa2048', acmRegions: ['us-east-1'] },
          { name: 'cdn3', identifiers: ['cdn3.example.com'], keyType: 'rsa3072', acmRegions: ['us-east-1'] },
        ]),
      ),
    ).toEqual([]);
  });
});
