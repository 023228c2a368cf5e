/**
 * us-east-1 list prices (USD) the benchmarks price their measured requests with
 * (bench/cost.ts, bench/fleet.ts). As published by AWS in 2025 (DynamoDB on-demand after the
 * November 2024 cut); check the AWS pricing pages before quoting:
 * https://aws.amazon.com/dynamodb/pricing/on-demand/ (an eventually consistent read of up to
 * 4 KB is half a read request unit, a strongly consistent one a whole unit; a write of up to
 * 1 KB one write request unit), https://aws.amazon.com/s3/pricing/,
 * https://aws.amazon.com/lambda/pricing/. IAM Roles Anywhere's CreateSession and STS carry
 * no charge of their own.
 */
export const PRICE = {
  lambdaGbSecondArm: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  s3Put: 0.005 / 1000, // PUT, COPY, POST, LIST (PutObjectTagging is PUT class)
  s3Get: 0.0004 / 1000, // GET and all other requests; DELETE is free
  kmsRequest: 0.03 / 10_000,
  dynamoWru: 0.625 / 1e6, // on-demand
  dynamoRru: 0.125 / 1e6,
  sqsRequest: 0.4 / 1e6,
  snsPublish: 0.5 / 1e6, // delivery to SQS is free
  route53Query: 0.4 / 1e6, // standard queries; the Route53 API itself is free
  logsGb: 0.5, // CloudWatch Logs ingestion, standard class
  rolesAnywhereSession: 0,
} as const;

/** Lambda gives a function CPU in proportion to its memory: 1,769 MB buys one vCPU. */
export const LAMBDA_MB_PER_VCPU = 1769;
