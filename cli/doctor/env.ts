/**
 * Where the stack is: the same CERTKEEPER_* variables the Lambdas read (so an operator can
 * export the stack's outputs once), each overridable by a flag. Kept here until the shared
 * stack discovery (cli/context.ts) exists.
 */
export interface StackFlags {
  bucket?: string;
  table?: string;
  queueUrl?: string;
  topicArn?: string;
  region?: string;
}

const FLAG_ENV: Record<keyof StackFlags, string> = {
  bucket: 'CERTKEEPER_BUCKET',
  table: 'CERTKEEPER_TABLE',
  queueUrl: 'CERTKEEPER_QUEUE_URL',
  topicArn: 'CERTKEEPER_TOPIC_ARN',
  region: 'AWS_REGION',
};

export function stackEnv(flags: StackFlags, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const merged = { ...env };
  for (const [flag, name] of Object.entries(FLAG_ENV) as [keyof StackFlags, string][]) {
    const value = flags[flag];
    if (value !== undefined) merged[name] = value;
  }
  return merged;
}
