/** ARN shapes checked in both the deployment config and the Lambdas' environment. */
export const ROLE_ARN_PATTERN = /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/;
