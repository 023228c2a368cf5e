import { readFileSync } from 'node:fs';
import { App, Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type FunctionName, lambdaCodeFor } from '../../infra/issuer.js';
import { CertkeeperStack } from '../../infra/stack.js';
import { type DeploymentConfigInput, parseDeploymentConfig } from '../../shared/config/deployment.js';

/** The shipped example: the infra tests start from what operators copy. */
export function exampleConfigInput(): DeploymentConfigInput {
  return JSON.parse(readFileSync('certkeeper.config.example.json', 'utf8')) as DeploymentConfigInput;
}

/** A config that turns on everything optional: EAB, every alert channel, cross-account zones. */
export function fullConfigInput(): DeploymentConfigInput {
  const secret = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbC123`;
  return {
    ...exampleConfigInput(),
    ca: {
      directory: 'https://acme.example.net/directory',
      contact: 'pki@example.com',
      eab: { kid: 'kid-1', hmacKeySecretArn: secret('certkeeper/eab') },
    },
    hostedZones: [
      { id: 'Z0123456789EXAMPLE', name: 'example.com' },
      {
        id: 'Z0OTHERACCOUNTZONE',
        name: 'example.org',
        roleArn: 'arn:aws:iam::210987654321:role/certkeeper-dns',
      },
    ],
    scheduleMinutes: 5,
    issuerConcurrency: 4,
    alerts: {
      email: ['ops@example.com', 'oncall@example.com'],
      slackWebhookSecretArn: secret('certkeeper/slack'),
      telegram: { botTokenSecretArn: secret('certkeeper/telegram'), chatId: '-100123' },
      webhookUrlSecretArn: secret('certkeeper/webhook'),
    },
    http01PublicRead: true,
  };
}

/** Inline stand-ins: these tests read the template, not what the Lambdas do. */
export const inlineCode = (): Record<FunctionName, lambda.Code> =>
  lambdaCodeFor((name) => lambda.Code.fromInline(`exports.handler = async () => '${name}';`));

/** The feature flags cdk.json gives `cdk synth`, so the tests see the template that deploys. */
const cdkContext = (JSON.parse(readFileSync('cdk.json', 'utf8')) as { context?: Record<string, unknown> })
  .context;

export interface Synthesized {
  stack: CertkeeperStack;
  template: Template;
}

/** One stack from a config, validated as the app does, optionally with cdk-nag applied. */
export function synth(
  input: DeploymentConfigInput = exampleConfigInput(),
  options: { nag?: boolean; code?: Record<FunctionName, lambda.Code> } = {},
): Synthesized {
  const app = new App({ context: cdkContext });
  const stack = new CertkeeperStack(app, 'Test', {
    config: parseDeploymentConfig(input),
    lambdaCode: options.code ?? inlineCode(),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  if (options.nag) Aspects.of(stack).add(new AwsSolutionsChecks({ verbose: true }));
  return { stack, template: Template.fromStack(stack) };
}

/** cdk-nag's unsuppressed findings (errors and warnings), as "path: rule" lines. */
export function nagFindings(stack: CertkeeperStack): string[] {
  const annotations = Annotations.fromStack(stack);
  const rule = Match.stringLikeRegexp('AwsSolutions-.*');
  return [...annotations.findError('*', rule), ...annotations.findWarning('*', rule)].map(
    (f) => `${f.id}: ${String(f.entry.data).split(':')[0]}`,
  );
}

/** The template's resources of one type, by logical ID. */
export function resourcesOf(
  template: Template,
  type: string,
): [string, { Properties: Record<string, unknown> }][] {
  return Object.entries(template.findResources(type)) as [string, { Properties: Record<string, unknown> }][];
}

/** Every statement of the IAM policies attached to the role of the named construct path. */
export function roleStatements(template: Template, roleIdPart: string): Record<string, unknown>[] {
  return resourcesOf(template, 'AWS::IAM::Policy')
    .filter(([id]) => id.startsWith(`Issuer${roleIdPart}Role`))
    .flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement);
}
