import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { CertkeeperStack } from '../../infra/stack.js';

describe('infra', () => {
  it('synthesizes the stack with its version output', () => {
    const app = new App();
    const template = Template.fromStack(new CertkeeperStack(app, 'Test'));
    template.hasOutput('CertkeeperVersion', { Value: '0.1.0' });
    expect(app.synth().stacks.map((s) => s.stackName)).toEqual(['Test']);
  });
});
