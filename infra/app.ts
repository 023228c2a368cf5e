import { App } from 'aws-cdk-lib';
import { CertkeeperStack } from './stack.js';

const app = new App();
new CertkeeperStack(app, 'Certkeeper', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
app.synth();
