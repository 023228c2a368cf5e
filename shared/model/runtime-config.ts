import * as z from 'zod';
import { zodToValidationError } from './spec.js';

/**
 * What a Lambda needs from its environment, set by the stack. AWS endpoints come from the
 * SDK's own variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, ...),
 * which is also how tests point the handlers at moto and DynamoDB Local.
 */
const optional = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

export const runtimeEnv = z.object({
  CERTKEEPER_BUCKET: z.string().min(3),
  CERTKEEPER_TABLE: z.string().min(3),
  CERTKEEPER_QUEUE_URL: optional,
  CERTKEEPER_TOPIC_ARN: optional,
  CERTKEEPER_DIRECTORY_URL: z.string().url(),
  CERTKEEPER_CONTACT: optional,
  CERTKEEPER_KMS_KEY_ID: optional,
  CERTKEEPER_EAB_KID: optional,
  CERTKEEPER_EAB_HMAC_KEY: optional,
  /** Where the deployed stack keeps the EAB HMAC key; read once per cold start. */
  CERTKEEPER_EAB_HMAC_SECRET_ARN: optional,
  /** PEM of a CA to trust for the ACME directory's TLS (private CAs, Pebble in tests). */
  CERTKEEPER_ACME_CA_PEM: optional,
  /** host:port list used instead of the zone's name servers for the DNS-01 visibility check. */
  CERTKEEPER_DNS_RESOLVERS: optional,
  CERTKEEPER_S3_FORCE_PATH_STYLE: optional.transform((v) => v === 'true' || v === '1'),
  AWS_REGION: z.string().default('us-east-1'),
});
export type RuntimeEnv = z.infer<typeof runtimeEnv>;

export function parseRuntimeEnv(env: NodeJS.ProcessEnv): RuntimeEnv {
  const parsed = runtimeEnv.safeParse(env);
  if (!parsed.success) throw zodToValidationError(parsed.error, 'environment');
  return parsed.data;
}
