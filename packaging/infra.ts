/**
 * `certkeeper/infra`: the CDK construct for another CDK app, as the npm package exports it.
 *
 *   import { CertkeeperIssuer } from 'certkeeper/infra';
 *   new CertkeeperIssuer(stack, 'Certkeeper', { directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory' });
 *
 * The same construct as infra/issuer.ts, with one difference: `lambdaCode` is optional and
 * defaults to the Lambda bundles shipped in the package (dist/lambdas/<name>/, built by
 * infra/bundle.ts at pack time), so an app needs no build step of its own. aws-cdk-lib and
 * constructs are the app's (peer dependencies); scripts/build-cli.ts bundles the rest.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import {
  CertkeeperIssuer as Issuer,
  type CertkeeperIssuerProps as IssuerProps,
  type FunctionName,
  lambdaCodeFor,
} from '../infra/issuer.js';

export {
  ALERT_EVENT_TYPES,
  IssuerAgents,
  type CertkeeperAlarms,
  FUNCTION_NAMES,
  type FunctionName,
  lambdaCodeFor,
} from '../infra/issuer.js';
export type { DeploymentConfig } from '../shared/config/deployment.js';
export type { CertificateSpec } from '../shared/model/spec.js';

export interface CertkeeperIssuerProps extends Omit<IssuerProps, 'lambdaCode'> {
  /**
   * The code of each Lambda.
   * @default - the bundles shipped in this package (`bundledLambdaCode()`)
   */
  readonly lambdaCode?: IssuerProps['lambdaCode'];
}

/**
 * The Lambda bundles of this package: dist/lambdas/<name>/index.mjs next to this module's
 * directory (dist/infra/), each deployed as its own asset.
 */
export function bundledLambdaCode(): Record<FunctionName, lambda.Code> {
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'lambdas');
  return lambdaCodeFor((name) => {
    const bundle = path.join(dir, name);
    if (!existsSync(path.join(bundle, 'index.mjs'))) {
      throw new Error(
        `certkeeper/infra: no Lambda bundle at ${bundle} (the package was packed without npm run build)`,
      );
    }
    return lambda.Code.fromAsset(bundle);
  });
}

/** The certkeeper issuer (bucket, table, queues, topics, its Lambdas, alarms); see infra/issuer.ts. */
export class CertkeeperIssuer extends Issuer {
  constructor(scope: Construct, id: string, props: CertkeeperIssuerProps) {
    super(scope, id, { ...props, lambdaCode: props.lambdaCode ?? bundledLambdaCode() });
  }
}
