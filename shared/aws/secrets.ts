import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { callAws } from './errors.js';
import { ValidationError } from '../model/errors.js';

/**
 * Port: reads one secret's text by ARN. Credentials (the Telegram bot token, the Slack
 * webhook URL, the ACME EAB HMAC key) live in Secrets Manager, never in a Lambda's
 * environment.
 */
export interface SecretReader {
  read(arn: string): Promise<string>;
}

export class SecretsManagerReader implements SecretReader {
  constructor(private readonly client: SecretsManagerClient) {}

  async read(arn: string): Promise<string> {
    const out = await callAws(
      {
        service: 'Secrets Manager',
        operation: 'GetSecretValue',
        resource: arn,
        permissions: ['secretsmanager:GetSecretValue'],
        client: this.client,
      },
      () => this.client.send(new GetSecretValueCommand({ SecretId: arn })),
    );
    // A value pasted with `echo` or an editor often ends in a newline; nothing else is touched.
    const value = out.SecretString?.trim();
    if (!value) {
      throw new ValidationError(
        `secret ${arn}`,
        'holds no text value',
        'store the value as the secret string (plain text, not binary)',
      );
    }
    return value;
  }
}

/**
 * Reads each secret once per container (cold start) and keeps it, so a burst of alerts costs
 * one GetSecretValue per secret. A failed read is forgotten, so the next message tries again.
 * A rotated secret is picked up by the next cold start.
 */
export class CachedSecretReader implements SecretReader {
  private readonly cache = new Map<string, Promise<string>>();

  constructor(private readonly inner: SecretReader) {}

  read(arn: string): Promise<string> {
    let value = this.cache.get(arn);
    if (!value) {
      value = this.inner.read(arn);
      value.catch(() => this.cache.delete(arn));
      this.cache.set(arn, value);
    }
    return value;
  }
}
