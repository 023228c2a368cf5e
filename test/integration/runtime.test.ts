/**
 * The composition root reads the EAB HMAC key from Secrets Manager (moto) once per cold
 * start, and a failed read is not cached.
 */
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { beforeAll, describe, expect, it } from 'vitest';
import { issuerRuntime } from '../../functions/issuer-runtime.js';
import { resetRuntime } from '../../functions/runtime.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { peers, uniqueName } from '../../scripts/test-kit/peers.js';
import { pointHandlersAt, useStandInStack } from '../../scripts/test-kit/stack.js';

let stack: StandInStack;
let secretArn: string;
let sm: SecretsManagerClient;

beforeAll(async () => {
  stack = await useStandInStack('runtime');
  sm = new SecretsManagerClient({
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
    // Named (Secrets Manager takes a name as well as an ARN) so it can be created meanwhile.
    const late = uniqueName('late-eab');
    pointHandlersAt({ ...stack.env, CERTKEEPER_EAB_KID: 'kid-1', CERTKEEPER_EAB_HMAC_SECRET_ARN: late });
    const error = await issuerRuntime().catch((e: unknown) => e);
    expect(String((error as Error).message)).toContain(late);
    await sm.send(new CreateSecretCommand({ Name: late, SecretString: 'bGF0ZS1rZXk=' }));
    const rt = await issuerRuntime();
    expect(rt.renewDeps.authorities[0]!.settings.eab?.hmacKey).toBe('bGF0ZS1rZXk=');
  });

  it('reads the secret (trimmed) into the CA settings, not into the environment', async () => {
    pointHandlersAt({ ...stack.env, CERTKEEPER_EAB_KID: 'kid-1', CERTKEEPER_EAB_HMAC_SECRET_ARN: secretArn });
    delete process.env.CERTKEEPER_EAB_HMAC_KEY;
    const rt = await issuerRuntime();
    expect(rt.renewDeps.authorities[0]!.settings.eab).toMatchObject({
      kid: 'kid-1',
      hmacKey: 'c2VjcmV0LWhtYWMta2V5',
    });
    expect(rt.env.CERTKEEPER_EAB_HMAC_KEY).toBeUndefined();
    expect(process.env.CERTKEEPER_EAB_HMAC_KEY).toBeUndefined();
    resetRuntime();
  });
});
