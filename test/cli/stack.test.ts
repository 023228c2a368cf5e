/**
 * `--stack NAME`: the CLI finds the bucket, table, queue and topic from a CloudFormation
 * stack's outputs (moto's CloudFormation standing in for the deployed stack), run as a
 * child process without CERTKEEPER_BUCKET/TABLE/QUEUE_URL/TOPIC_ARN in its environment.
 */
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { peers, uniqueName } from '../../scripts/test-kit/peers.js';
import { useStandInStack } from '../../scripts/test-kit/stack.js';
import { certkeeper, json } from '../../scripts/test-kit/operator.js';

let stack: StandInStack;
let cloudformation: CloudFormationClient;
/** The stack's environment without the variables --stack replaces. */
let env: Record<string, string>;
const full = uniqueName('cli-stack-full');
const partial = uniqueName('cli-stack-partial');

/** A stack with no real resources: a wait-condition handle and literal outputs. */
async function createStack(name: string, outputs: Record<string, string>): Promise<void> {
  const template = {
    AWSTemplateFormatVersion: '2010-09-09',
    Resources: { Placeholder: { Type: 'AWS::CloudFormation::WaitConditionHandle' } },
    Outputs: Object.fromEntries(Object.entries(outputs).map(([key, value]) => [key, { Value: value }])),
  };
  await cloudformation.send(
    new CreateStackCommand({ StackName: name, TemplateBody: JSON.stringify(template) }),
  );
}

beforeAll(async () => {
  stack = await useStandInStack('cli-stack');
  cloudformation = new CloudFormationClient({
    endpoint: peers().motoEndpoint,
    region: stack.env.AWS_REGION!,
    credentials: {
      accessKeyId: stack.env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: stack.env.AWS_SECRET_ACCESS_KEY!,
    },
  });
  await createStack(full, {
    BucketName: stack.bucket,
    TableName: stack.table,
    IssuerQueueUrl: stack.queueUrl,
    EventsTopicArn: stack.topicArn,
  });
  await createStack(partial, { BucketName: stack.bucket });
  env = { ...stack.env };
  for (const name of [
    'CERTKEEPER_BUCKET',
    'CERTKEEPER_TABLE',
    'CERTKEEPER_QUEUE_URL',
    'CERTKEEPER_TOPIC_ARN',
  ])
    delete env[name];
  // Seeded through the usual variables, so --stack is the only thing under test below.
  const added = await certkeeper(['add', 'edge', '--ip', '127.0.0.1'], stack.env);
  expect(added.code, added.stderr).toBe(0);
});

afterAll(() => {
  cloudformation.destroy();
  stack.clients.s3.destroy();
});

describe('certkeeper --stack', () => {
  it("lists the stack's certificates from its outputs alone", async () => {
    const result = await certkeeper(['list', '--stack', full, '--json'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(json<{ name: string }[]>(result).map((c) => c.name)).toEqual(['edge']);
  });

  it('reads CERTKEEPER_STACK when --stack is not given', async () => {
    const result = await certkeeper(['list', '--json'], { ...env, CERTKEEPER_STACK: full });
    expect(result.code, result.stderr).toBe(0);
    expect(json<{ name: string }[]>(result).map((c) => c.name)).toEqual(['edge']);
  });

  it('a stack that does not exist: exit 2 naming --stack, nothing else tried', async () => {
    const result = await certkeeper(['list', '--stack', 'no-such-certkeeper-stack', '--json'], env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^certkeeper: --stack: stack "no-such-certkeeper-stack" does not exist in us-east-1\. Fix: /,
    );
  });

  it('a missing output is a usage error naming it, unless the flag is given (flags win)', async () => {
    const missing = await certkeeper(['list', '--stack', partial], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /^certkeeper: --stack: stack "[^"]+" has no output TableName\. Fix: .*--table <name>/,
    );

    const given = await certkeeper(['list', '--stack', partial, '--table', stack.table, '--json'], env);
    expect(given.code, given.stderr).toBe(0);
    expect(json<{ name: string }[]>(given).map((c) => c.name)).toEqual(['edge']);
  });

  it('explicit flags win over the outputs', async () => {
    // A bogus table in the flag must be what the command uses, not the stack's table.
    const result = await certkeeper(['list', '--stack', full, '--table', 'certkeeper-no-such-table'], env);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/certkeeper-no-such-table|ResourceNotFound|non-existent/i);
  });

  it('renew needs the queue: IssuerQueueUrl comes from the stack too', async () => {
    const result = await certkeeper(['renew', 'edge', '--stack', full, '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(json(result)).toMatchObject({ certificate: 'edge', queued: true });
  });
});
