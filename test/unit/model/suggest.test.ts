import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../../agent/config.js';
import { parseDeploymentConfig } from '../../../shared/config/deployment.js';
import { ValidationError } from '../../../shared/model/errors.js';
import { closestKey } from '../../../shared/model/suggest.js';

function refusal(parse: () => unknown): ValidationError {
  try {
    parse();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('closestKey', () => {
  const keys = ['renewBefore', 'renewBeforePercentage', 'keyType', 'name', 'profile'];
  it.each([
    ['renewBefor', 'renewBefore'],
    ['renewbefore', 'renewBefore'],
    ['renew_before', 'renewBefore'],
    ['renewBefroe', 'renewBefore'],
    ['keytpye', 'keyType'],
    ['nmae', 'name'],
    ['profiles', 'profile'],
    ['renewBeforePercent', 'renewBeforePercentage'],
  ])('%s -> %s', (typed, meant) => expect(closestKey(typed, keys)).toBe(meant));

  it.each(['colour', 'x', 'hostedZone', 'nam'])('%s: nothing close', (typed) =>
    expect(closestKey(typed, ['renewBefore', 'keyType', 'namespace', 'profile'])).toBeUndefined(),
  );
});

describe('an unknown config key names the field and the key meant', () => {
  const web = { name: 'web', identifiers: ['example.com'] };

  it.each<[string, unknown, string, string]>([
    [
      'a certificate field',
      { certificates: [{ ...web, renewBefor: '72h' }] },
      'config.certificates[0].renewBefor',
      'rename it to renewBefore',
    ],
    ['a nested section', { ca: { directry: 'letsencrypt' } }, 'config.ca.directry', 'rename it to directory'],
    ['a top-level key', { scheduelMinutes: 5 }, 'config.scheduelMinutes', 'rename it to scheduleMinutes'],
    [
      'a key close to nothing',
      { alerts: { pager: 'x' } },
      'config.alerts.pager',
      'remove it; the keys here are: email, slackWebhookSecretArn, telegram, webhookUrlSecretArn',
    ],
  ])('deployment config: %s', (_what, input, field, fix) => {
    const err = refusal(() => parseDeploymentConfig(input));
    expect(err.field).toBe(field);
    expect(err.fix).toBe(fix);
    if (fix.startsWith('rename')) expect(err.message).toMatch(/is not a known key \(did you mean \w+\?\)/);
  });

  it('agent config, inside a certificate', () => {
    const err = refusal(() =>
      parseAgentConfig({
        bucket: 'my-bucket',
        certificates: { web: { fulchain: '/etc/ssl/web.pem', key: '/k' } },
      }),
    );
    expect(err.field).toBe('agent config: certificates.web.fulchain');
    expect(err.fix).toBe('rename it to fullchain');
  });
});
