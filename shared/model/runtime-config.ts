import * as z from 'zod';
import { ROLE_ARN_PATTERN } from './arns.js';
import {
  caFallbackSchema,
  type CaSettings,
  caSettingsSchema,
  DEFAULT_CA_FALLBACK,
  defaultCaName,
  directoryUrlSchema,
} from './cas.js';
import { zodToValidationError } from './json.js';

/**
 * What a Lambda needs from its environment, set by the stack. AWS endpoints come from the
 * SDK's own variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, ...),
 * which is also how tests point the handlers at moto and DynamoDB Local.
 */
const optional = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

// The config's hostedZones[].roleArn check (shared/config/deployment.ts), restated rather than
// imported, and checked by hand rather than with z.record: either costs every Lambda
// kilobytes of bundle for one variable only the issuer reads. Zone ids are checked only for
// shape: the config insists on Route53's "Z..." form, while moto's ids are any upper-case
// letters and digits, and a wrong id fails the first call that names it anyway.
const ZONE_ID = /^[A-Z0-9]{1,32}$/;
const ZONE_ROLES_EXAMPLE = '{"Z0123456789ABC": "arn:aws:iam::210987654321:role/certkeeper-dns"}';

/**
 * `{ "<hosted zone id>": "<role ARN>" }` as JSON: the zones in other accounts and the role
 * to assume for each. Unset or empty means every zone is in this account. A problem with
 * one entry names its zone, as `environment.CERTKEEPER_ZONE_ROLES.<zone id>`.
 */
const zoneRoles = optional.transform((raw, ctx): Record<string, string> => {
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    ctx.addIssue({ code: 'custom', message: `is not JSON; expected ${ZONE_ROLES_EXAMPLE}` });
    return z.NEVER;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    ctx.addIssue({ code: 'custom', message: `must be a JSON object such as ${ZONE_ROLES_EXAMPLE}` });
    return z.NEVER;
  }
  const roles: Record<string, string> = {};
  for (const [zoneId, roleArn] of Object.entries(parsed)) {
    const issue = (message: string) => ctx.addIssue({ code: 'custom', path: [zoneId], message });
    if (!ZONE_ID.test(zoneId)) issue('must be a bare hosted zone id such as Z0123456789ABC');
    else if (typeof roleArn !== 'string' || !ROLE_ARN_PATTERN.test(roleArn)) issue('must be an IAM role ARN');
    else roles[zoneId] = roleArn;
  }
  return roles;
});

/** A JSON variable read with a schema; a problem names the variable and the path inside it. */
const jsonOf = <T extends z.ZodType>(schema: T, example: string) =>
  optional.transform((raw, ctx): z.output<T> | undefined => {
    if (raw === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      ctx.addIssue({ code: 'custom', message: `is not JSON; expected ${example}` });
      return z.NEVER;
    }
    const result = schema.safeParse(parsed);
    if (result.success) return result.data;
    for (const issue of result.error.issues)
      ctx.addIssue({ ...issue, code: 'custom', message: issue.message });
    return z.NEVER;
  });

export const runtimeEnv = z.object({
  CERTKEEPER_BUCKET: z.string().min(3),
  CERTKEEPER_TABLE: z.string().min(3),
  CERTKEEPER_QUEUE_URL: optional,
  CERTKEEPER_TOPIC_ARN: optional,
  CERTKEEPER_DIRECTORY_URL: directoryUrlSchema,
  /**
   * The CAs in order of preference (shared/model/cas.ts), set by the stack for a `cas`
   * list. Unset: the one CA of CERTKEEPER_DIRECTORY_URL, CONTACT and EAB_*.
   */
  CERTKEEPER_CAS: jsonOf(
    z.array(caSettingsSchema).min(1),
    '[{"name": "letsencrypt", "directoryUrl": "https://...", "contact": "ops@example.com"}]',
  ),
  CERTKEEPER_CA_FALLBACK: jsonOf(caFallbackSchema, '{"afterFailures": 2, "lifetimeShareLeft": 0.2}'),
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
  /** Hosted zones in other accounts and the role to reach each through (issuer only). */
  CERTKEEPER_ZONE_ROLES: zoneRoles,
  CERTKEEPER_S3_FORCE_PATH_STYLE: optional.transform((v) => v === 'true' || v === '1'),
  AWS_REGION: z.string().default('us-east-1'),
});
export type RuntimeEnv = z.infer<typeof runtimeEnv>;

/** The CAs this runtime may use, preferred first. */
export function casOf(env: RuntimeEnv): CaSettings[] {
  if (env.CERTKEEPER_CAS) return env.CERTKEEPER_CAS;
  const url = env.CERTKEEPER_DIRECTORY_URL;
  const kid = env.CERTKEEPER_EAB_KID;
  return [
    {
      name: defaultCaName(url),
      directoryUrl: url,
      ...(env.CERTKEEPER_CONTACT ? { contact: env.CERTKEEPER_CONTACT } : {}),
      ...(kid
        ? {
            eab: {
              kid,
              hmacKey: env.CERTKEEPER_EAB_HMAC_KEY,
              hmacKeySecretArn: env.CERTKEEPER_EAB_HMAC_SECRET_ARN,
            },
          }
        : {}),
    },
  ];
}

export const caFallbackOf = (env: RuntimeEnv) => env.CERTKEEPER_CA_FALLBACK ?? DEFAULT_CA_FALLBACK;

export function parseRuntimeEnv(env: NodeJS.ProcessEnv): RuntimeEnv {
  const parsed = runtimeEnv.safeParse(env);
  if (!parsed.success) throw zodToValidationError(parsed.error, 'environment');
  return parsed.data;
}
