/**
 * The generic webhook's URL (which usually carries a token) comes from Secrets Manager like
 * the Slack and Telegram credentials, and never appears in the template or the notifier's
 * environment (issue 22, item 11); the plain `alerts.webhookUrl` is refused at synth.
 */
import { describe, expect, it } from 'vitest';
import { parseDeploymentConfig } from '../../shared/config/deployment.js';
import { ValidationError } from '../../shared/model/errors.js';
import { exampleConfigInput, roleStatements, synth } from '../support/synth.js';

const TOKEN_URL = 'https://hooks.example.com/certkeeper?token=s3cr3t-t0ken';
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:certkeeper/webhook-AbC123';

describe('alerts: the webhook URL from Secrets Manager', () => {
  it('refuses alerts.webhookUrl at synth, naming the field and the fix', () => {
    const input = { ...exampleConfigInput(), alerts: { email: [], webhookUrl: TOKEN_URL } };
    let error: unknown;
    try {
      parseDeploymentConfig(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('config.alerts.webhookUrl');
    expect((error as ValidationError).message).toMatch(/plain text in the CloudFormation template/);
    expect((error as ValidationError).message).not.toContain('s3cr3t');
    expect((error as ValidationError).fix).toMatch(/give its ARN as alerts\.webhookUrlSecretArn/);
  });

  it('passes the secret ARN to the notifier, lets it read that secret, and the URL is nowhere in the template', () => {
    const { template } = synth({ ...exampleConfigInput(), alerts: { email: [], webhookUrlSecretArn: ARN } });
    const json = JSON.stringify(template.toJSON());
    expect(json).not.toContain('hooks.example.com');
    expect(json).not.toContain('CERTKEEPER_WEBHOOK_URL"');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { CERTKEEPER_WEBHOOK_URL_SECRET_ARN: ARN } },
    });
    const reads = roleStatements(template, 'Notifier').filter((st) =>
      [st.Action].flat().includes('secretsmanager:GetSecretValue'),
    );
    expect(reads.flatMap((st) => [st.Resource].flat())).toEqual([ARN]);
  });
});
