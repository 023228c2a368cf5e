import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Aspects } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildLambdas } from './bundle.js';
import type { DeploymentConfig } from '../shared/config/deployment.js';
import { formatConfigError, readDeploymentConfig, resolveConfigPath } from './config.js';
import { FUNCTION_NAMES, lambdaCodeFor } from './issuer.js';
import { CertkeeperStack } from './stack.js';

/**
 * The CDK app: reads certkeeper.config.json (`-c config=FILE` or CERTKEEPER_CONFIG to use
 * another), bundles the Lambdas, and synthesizes one CertkeeperStack named by the config.
 * A config error stops here, before anything is bundled or deployed.
 */
const app = new App();
const source = resolveConfigPath({
  context: app.node.tryGetContext('config') as string | undefined,
  env: process.env.CERTKEEPER_CONFIG,
});
let config: DeploymentConfig;
try {
  config = readDeploymentConfig(source);
} catch (err) {
  console.error(formatConfigError(err, source));
  process.exit(1);
}

// Bundled outside cdk.out: CDK copies each directory into the cloud assembly as an asset
// while synthesizing, after which the bundles are no longer needed.
const bundles = mkdtempSync(path.join(tmpdir(), 'certkeeper-lambdas-'));
try {
  const built = await buildLambdas({ outDir: bundles, only: [...FUNCTION_NAMES] });
  const lambdaCode = lambdaCodeFor((name) => {
    const bundle = built.find((b) => b.name === name);
    if (!bundle) throw new Error(`infra/bundle.ts produced no bundle for ${name}`);
    return lambda.Code.fromAsset(bundle.dir);
  });

  const stack = new CertkeeperStack(app, config.stackName, {
    config,
    lambdaCode,
    description: 'certkeeper: serverless ACME certificate issuer',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  // The same checks as the tests: a finding without a reasoned suppression fails the synth.
  Aspects.of(stack).add(new AwsSolutionsChecks());
  app.synth();
} finally {
  rmSync(bundles, { recursive: true, force: true });
}
