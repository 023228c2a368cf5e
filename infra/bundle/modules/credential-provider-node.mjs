// Stands in for @aws-sdk/credential-provider-node in the Lambda bundles: see ../stand-ins.ts.
// Its imports resolve from where the AWS SDK imported the module it replaces.
import { fromEnv } from '@aws-sdk/credential-provider-env';
import { fromHttp } from '@aws-sdk/credential-provider-http';
import { chain, CredentialsProviderError, memoize } from '@smithy/core/config';

const CONTAINER = ['AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI'];

export const credentialsTreatedAsExpired = (c) =>
  c?.expiration !== undefined && c.expiration.getTime() - Date.now() < 300000;
export const credentialsWillNeedRefresh = (c) => c?.expiration !== undefined;

export const defaultProvider = (init = {}) =>
  memoize(
    chain(
      fromEnv(init),
      async () => {
        if (!CONTAINER.some((name) => process.env[name])) {
          throw new CredentialsProviderError('no container credentials endpoint', {
            logger: init.logger,
            tryNextLink: true,
          });
        }
        return fromHttp(init)();
      },
      async () => {
        throw new CredentialsProviderError(
          'No AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (as Lambda does) or ' +
            CONTAINER.join(' / ') +
            '. This bundle does not read profiles, SSO or instance metadata (see infra/bundle/stand-ins.ts).',
          { logger: init.logger, tryNextLink: false },
        );
      },
    ),
    credentialsTreatedAsExpired,
    credentialsWillNeedRefresh,
  );
