/**
 * The issuer's ACM grants through the IAM simulator (@cloud-copilot/iam-simulate) over the
 * synthesized template (issue 22, item 6): what certkeeper does with its own certificates is
 * allowed; importing over, or tagging, a certificate another owner marked is denied; and the
 * one thing IAM cannot refuse is pinned here so that it stays visible: ACM authorises the
 * tags of a first import as acm:AddTagsToCertificate with no resource tag yet, which any
 * untagged certificate presents too (ACM has no condition key like EC2's ec2:CreateAction
 * to tell them apart). The README says how to keep other certificates out of reach.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentConfigInput } from '../../shared/config/deployment.js';
import {
  ACCOUNT,
  type CfnTemplate,
  decide,
  type PolicySet,
  policiesOf,
  TemplateResolver,
} from '../support/iam.js';
import { exampleConfigInput, synth } from '../support/synth.js';

const REGION = 'eu-west-1';
const ARN = `arn:aws:acm:${REGION}:${ACCOUNT}:certificate/0f1e2d3c-aaaa-bbbb-cccc-000000000001`;
const OTHER_REGION_ARN = ARN.replace(REGION, 'ap-south-1');
const tags = (name: string, serial = '0A1B') => ({
  'certkeeper:certificate': name,
  'certkeeper:serial': serial,
});

/** The IAM context of an ACM request: the certificate's tags and the tags the request sets. */
const context = (resourceTags: Record<string, string>, requestTags?: Record<string, string>) => ({
  ...Object.fromEntries(Object.entries(resourceTags).map(([k, v]) => [`aws:ResourceTag/${k}`, v])),
  ...Object.fromEntries(Object.entries(requestTags ?? {}).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
  ...(requestTags ? { 'aws:TagKeys': Object.keys(requestTags) } : {}),
});

describe('ACM grants of the issuer, through the IAM simulator', () => {
  let policies: PolicySet;
  const can = async (
    action: string,
    resourceTags: Record<string, string>,
    requestTags?: Record<string, string>,
    resource = ARN,
  ) =>
    (await decide(policies, 'issuer', {
      action,
      resource,
      context: context(resourceTags, requestTags),
      call: action,
    })) === 'Allowed';

  beforeAll(() => {
    const input = {
      ...exampleConfigInput(),
      agents: [],
      certificates: [{ name: 'site', identifiers: ['example.com'], acmRegions: [REGION] }],
    } as DeploymentConfigInput;
    const template = synth(input).template.toJSON() as CfnTemplate;
    policies = policiesOf(template, new TemplateResolver(template, {}), {
      issuer: { role: 'IssuerIssuerRole' },
    });
  });

  it('allows what certkeeper does: a tagged first import, then re-import and re-tag of its own', async () => {
    expect(await can('acm:ImportCertificate', {}, tags('site'))).toBe(true);
    expect(await can('acm:AddTagsToCertificate', {}, tags('site'))).toBe(true);
    expect(await can('acm:ImportCertificate', tags('site', '0001'))).toBe(true);
    expect(await can('acm:AddTagsToCertificate', tags('site', '0001'), tags('site', '0002'))).toBe(true);
  });

  it('denies importing over a certificate it did not tag, and touching one marked by another owner', async () => {
    expect(await can('acm:ImportCertificate', {})).toBe(false);
    expect(await can('acm:ImportCertificate', { team: 'payments' })).toBe(false);
    const marked = { 'certkeeper:certificate': 'not-certkeeper' };
    expect(await can('acm:ImportCertificate', marked)).toBe(false);
    expect(await can('acm:AddTagsToCertificate', marked, tags('site'))).toBe(false);
    expect(await can('acm:AddTagsToCertificate', { team: 'payments' }, { team: 'mine' })).toBe(false);
    expect(await can('acm:AddTagsToCertificate', {}, tags('site'), OTHER_REGION_ARN)).toBe(false);
    expect(await can('acm:ImportCertificate', {}, tags('undeclared'))).toBe(false);
  });

  it('IAM limit, pinned: tagging an untagged certificate in a declared region looks like a first import', async () => {
    expect(await can('acm:AddTagsToCertificate', {}, tags('site'))).toBe(true);
    expect(await can('acm:AddTagsToCertificate', { team: 'payments' }, tags('site'))).toBe(true);
  });
});
