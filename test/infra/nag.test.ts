import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { exampleConfigInput, fullConfigInput, nagFindings, synth } from '../support/synth.js';

/**
 * cdk-nag's AwsSolutions pack over whole stacks: every finding is either fixed or
 * suppressed next to its resource with a reason, so none may be left, error or warning.
 */
describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unsuppressed in the example stack', () => {
    expect(nagFindings(synth(exampleConfigInput(), { nag: true }).stack)).toEqual([]);
  });

  it('finds nothing unsuppressed with every option on (public HTTP-01 reads, secrets, cross-account zones)', () => {
    expect(nagFindings(synth(fullConfigInput(), { nag: true }).stack)).toEqual([]);
  });

  it('finds nothing unsuppressed with no agents, zones or alert channels', () => {
    const minimal = { certificates: [{ name: 'web-1', identifiers: ['203.0.113.10'] }] };
    expect(nagFindings(synth(minimal, { nag: true }).stack)).toEqual([]);
  });

  it('does report what is not suppressed, and fails the synth on it (the check is live)', () => {
    const { stack } = synth(exampleConfigInput(), { nag: true });
    // A bucket without logging, TLS enforcement or a public access block, added by hand.
    new s3.CfnBucket(stack, 'Unsafe');
    // With @aws-cdk/core:annotationsInValidationReport (cdk.json), an error annotation stops
    // the synth with a validation report instead of being printed and deployed anyway.
    expect(() => nagFindings(stack)).toThrow(
      /ERROR AwsSolutions-S1:[^\n]*\n\s+Test\/Unsafe[\s\S]*ERROR AwsSolutions-S10:[^\n]*\n\s+Test\/Unsafe/,
    );
  });
});
