/**
 * The composition root reads the EAB HMAC key from Secrets Manager (moto) once per cold
 * start, and a failed read is not cached.
 */
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { beforeAll, describe, expect, it } from 'vitest';
import { issuerRuntime } from '../../functions/issuer-runtime.js';
import { resetRuntime } from '../../functions/runtime.js';
import type { LocalStack } from '../../scripts/local/stack.js';
import { peers, uniqueName } from '../support/peers.js';
import { pointHandlersAt, useLocalStack } from '../support/stack.js';

let stack: LocalStack;
let secretArn: string;

beforeAll(async () => {
  stack = await useLocalStack('runtime');
  const sm = new SecretsManagerClient({
    endpoint: peers().motoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const created = await sm.send(
    new CreateSecretCommand({ Name: uniqueName('eab'), SecretString: 'c2VjcmV0LWhtYWMta2V5\n' }),
  );
  secretArn = created.ARN!;
});

describe('EAB key from Secrets Manager', () => {
  it('a missing secret fails the cold start, naming it, and the next invocation tries again', async () => {
    const missing = secretArn.replace(/eab-[^:]+$/, 'nope-000000');
    pointHandlersAt({ ...stack.env, CERTKEEPER_EAB_KID: 'kid-1', CERTKEEPER_EAB_HMAC_SECRET_ARN: missing });
    const error = await issuerRuntime().catch((e: unknown) => e);
    expect(String((error as Error).message)).toContain('nope-000000');
    process.env.CERTKEEPER_EAB_HMAC_SECRET_ARN = secretArn;
    await expect(issuerRuntime()).resolves.toBeDefined();
  });

  it('reads the secret (trimmed) into the runtime environment', async () => {
    pointHandlersAt({ ...stack.env, CERTKEEPER_EAB_KID: 'kid-1', CERTKEEPER_EAB_HMAC_SECRET_ARN: secretArn });
    delete process.env.CERTKEEPER_EAB_HMAC_KEY;
    const rt = await issuerRuntime();
    expect(rt.env.CERTKEEPER_EAB_HMAC_KEY).toBe('c2VjcmV0LWhtYWMta2V5');
    expect(process.env.CERTKEEPER_EAB_HMAC_KEY).toBeUndefined();
    resetRuntime();
  });
});
