import * as z from 'zod';
import { ROLE_ARN_PATTERN } from './arns.js';
import { acmImportsPerYear } from '../renewal/acm-quota.js';
import { ACM_IMPORTS_PER_YEAR, AGENT_NAME_PATTERN, emptyDelivery } from './delivery.js';
import { ValidationError } from './errors.js';
import { configError } from './suggest.js';
import { type CertificateSpec, certificateSpecInput, parseCertificateSpec } from './spec.js';

/**
 * The deployment configuration (certkeeper.config.json): which CA, who to tell, which
 * hosted zones may be changed, and which certificates exist. `cdk deploy` reads it; the
 * same schema validates it everywhere, and every error names the field and the fix.
 */
export const CA_DIRECTORIES = {
  letsencrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
} as const;

const secretArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/,
    'must be a Secrets Manager secret ARN',
  );
const roleArn = z.string().regex(ROLE_ARN_PATTERN, 'must be an IAM role ARN');
const email = z.string().regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'must be an email address');

export const deploymentConfigSchema = z
  .object({
    /** CloudFormation stack name. */
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must be a valid stack name')
      .default('Certkeeper'),
    ca: z
      .object({
        /** "letsencrypt", "letsencrypt-staging", or any ACME directory URL. */
        directory: z
          .union([z.enum(['letsencrypt', 'letsencrypt-staging']), z.string().url()])
          .default('letsencrypt'),
        contact: email.optional(),
        /** RFC 8555 §7.3.4 external account binding; the HMAC key stays in Secrets Manager. */
        eab: z
          .object({ kid: z.string().min(1), hmacKeySecretArn: secretArn })
          .strict()
          .optional(),
      })
      .strict()
      .default({ directory: 'letsencrypt' }),
    hostedZones: z
      .array(
        z
          .object({
            id: z
              .string()
              .regex(/^Z[A-Z0-9]{1,31}$/, 'must be a Route53 hosted zone id such as Z0123456789ABC'),
            /** The zone's name, for people reading the config and the stack outputs. */
            name: z.string().optional(),
            /** A role in the zone's account, for zones in another account. */
            roleArn: roleArn.optional(),
          })
          .strict(),
      )
      .default([]),
    /** How often the scheduler looks for due certificates, in minutes (1-60). */
    scheduleMinutes: z.number().int().min(1).max(60).default(15),
    /** At most this many issuer Lambdas run at once, so CA rate limits hold. */
    issuerConcurrency: z.number().int().min(2).max(50).default(2),
    alerts: z
      .object({
        email: z.array(email).default([]),
        slackWebhookSecretArn: secretArn.optional(),
        telegram: z
          .object({ botTokenSecretArn: secretArn, chatId: z.string().min(1) })
          .strict()
          .optional(),
        webhookUrl: z.string().url().optional(),
      })
      .strict()
      .default({ email: [] }),
    /** Serve challenges/http-01/* publicly from the bucket, for servers that proxy to S3. */
    http01PublicRead: z.boolean().default(false),
    /** Servers that pull certificates: each gets a queue and a read-only policy for its certificates. */
    agents: z
      .array(
        z
          .object({
            name: z.string().regex(AGENT_NAME_PATTERN, 'must be lower-case letters, digits and hyphens'),
            certificates: z.array(z.string()).min(1, 'list the certificates this server installs'),
          })
          .strict(),
      )
      .default([]),
    /** The fleet view: when a delivery target counts as behind, and the ACM import quota. */
    fleet: z
      .object({
        /** A target still on an older serial this long after the new one was stored is behind. */
        lagMinutes: z.number().int().min(1).max(10_080).default(30),
        /** ACM's "imported certificates per year" quota per region (default 5,000; raise it here after AWS raises it). */
        acmImportsPerYear: z.number().int().min(1).default(ACM_IMPORTS_PER_YEAR),
      })
      .strict()
      .default({ lagMinutes: 30, acmImportsPerYear: ACM_IMPORTS_PER_YEAR }),
    certificates: z.array(certificateSpecInput.strict()).default([]),
  })
  .strict();

export type DeploymentConfigInput = z.input<typeof deploymentConfigSchema>;

export interface DeploymentConfig extends Omit<z.output<typeof deploymentConfigSchema>, 'certificates'> {
  /** The CA directory URL, resolved from a well-known name. */
  directoryUrl: string;
  certificates: CertificateSpec[];
}

/**
 * Validates a parsed config file. Certificates go through the same checks as `certkeeper
 * add`, and cross-references (agents naming certificates, DNS-01 without any hosted zone)
 * are checked here so `cdk synth` fails before anything is deployed.
 */
export function parseDeploymentConfig(input: unknown, source = 'certkeeper.config.json'): DeploymentConfig {
  const parsed = deploymentConfigSchema.safeParse(input);
  if (!parsed.success) throw prefixed(configError(parsed.error, 'config', deploymentConfigSchema), source);
  const raw = parsed.data;
  const certificates = raw.certificates.map((c, i) =>
    parseCertificateSpec(c, `config.certificates[${i}] (${c.name})`),
  );
  const names = new Set<string>();
  certificates.forEach((c, i) => {
    if (names.has(c.name)) {
      throw prefixed(
        new ValidationError(
          `config.certificates[${i}].name`,
          `"${c.name}" is declared twice`,
          'give each certificate its own name',
        ),
        source,
      );
    }
    names.add(c.name);
  });
  raw.agents.forEach((agent, i) =>
    agent.certificates.forEach((name, j) => {
      if (!names.has(name)) {
        throw prefixed(
          new ValidationError(
            `config.agents[${i}].certificates[${j}]`,
            `"${name}" is not a declared certificate`,
            `declare it under "certificates" or remove it (declared: ${[...names].join(', ') || 'none'})`,
          ),
          source,
        );
      }
    }),
  );
  // Each agent listed under a certificate is a delivery target the fleet view follows.
  for (const agent of raw.agents) {
    for (const name of agent.certificates) {
      const spec = certificates.find((c) => c.name === name)!;
      spec.delivery ??= emptyDelivery();
      if (!spec.delivery.agents.includes(agent.name)) spec.delivery.agents.push(agent.name);
    }
  }
  const quota = acmImportsPerYear(certificates, raw.fleet.acmImportsPerYear);
  if (quota) throw prefixed(quota, source);
  const dns = certificates.find((c) => c.challenge === 'dns-01' && !c.hostedZoneId);
  if (dns && raw.hostedZones.length === 0) {
    throw prefixed(
      new ValidationError(
        'config.hostedZones',
        `is empty, but certificate "${dns.name}" uses dns-01`,
        'list the Route53 hosted zones certkeeper may write _acme-challenge records to',
      ),
      source,
    );
  }
  const directory = raw.ca.directory;
  return {
    ...raw,
    directoryUrl:
      directory in CA_DIRECTORIES ? CA_DIRECTORIES[directory as keyof typeof CA_DIRECTORIES] : directory,
    certificates,
  };
}

function prefixed(error: ValidationError, source: string): ValidationError {
  return new ValidationError(
    error.field,
    `${error.message.slice(error.field.length + 2)} (in ${source})`,
    error.fix ?? '',
  );
}
