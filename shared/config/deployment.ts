import * as z from 'zod';
import { ROLE_ARN_PATTERN } from '../model/arns.js';
import { acmImportsPerYear } from '../renewal/acm-quota.js';
import {
  CA_NAME_PATTERN,
  caFallbackSchema,
  type CaSettings,
  defaultCaName,
  DEFAULT_CA_FALLBACK,
  directoryUrlSchema,
  resolveDirectoryName,
} from '../model/cas.js';
import { type AgentSelector, parseSelector } from '../model/agent.js';
import { ACM_IMPORTS_PER_YEAR, AGENT_NAME_PATTERN } from '../model/delivery.js';
import { labelsInput } from '../model/labels.js';
import { ValidationError } from '../model/errors.js';
import { configError } from '../model/suggest.js';
import { type CertificateSpec, certificateSpecInput, parseCertificateSpec } from '../model/spec.js';

export { WELL_KNOWN_CAS } from '../model/cas.js';

/**
 * The deployment configuration (certkeeper.config.json): which CAs, who to tell, which
 * hosted zones may be changed, and which certificates exist. `cdk deploy` reads it; the
 * same schema validates it everywhere, and every error names the field and the fix.
 */

const secretArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/,
    'must be a Secrets Manager secret ARN',
  );
const roleArn = z.string().regex(ROLE_ARN_PATTERN, 'must be an IAM role ARN');
const EMAIL_PATTERN = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const email = z.string().regex(EMAIL_PATTERN, 'must be an email address');
const directory = z.union([z.enum(['letsencrypt', 'letsencrypt-staging']), directoryUrlSchema]);
/** RFC 8555 §7.3.4 external account binding; the HMAC key stays in Secrets Manager. */
const eab = z.object({ kid: z.string().min(1), hmacKeySecretArn: secretArn }).strict();

/** A week: renewed after three and a half days, so a server may be off for that long and come back. */
export const DEFAULT_AGENT_IDENTITY_HOURS = 168;

export const deploymentConfigSchema = z
  .object({
    /** CloudFormation stack name. */
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must be a valid stack name')
      .default('Certkeeper'),
    /** One CA (the older spelling of a one-entry `cas`). */
    ca: z
      .object({
        /** "letsencrypt", "letsencrypt-staging", or any ACME directory URL. */
        directory: directory.default('letsencrypt'),
        contact: email.optional(),
        eab: eab.optional(),
      })
      .strict()
      .optional(),
    /**
     * The CAs to use, preferred first: a renewal failing for the CA's own reasons moves to
     * the next (see caFallback), and the next renewal starts at the first again.
     */
    cas: z
      .array(
        z
          .object({
            /** How events, status and the manifest name it; defaults to the directory's name or host. */
            name: z
              .string()
              .regex(CA_NAME_PATTERN, 'must be lower-case letters, digits, dots and hyphens')
              .optional(),
            directory,
            // Each CA of a fallback list must be able to reach the operator (RFC 8555 §7.3):
            // expiry and incident mail is the only word a CA sends outside the protocol.
            contact: z
              .string({
                error: (issue) =>
                  issue.input === undefined
                    ? 'is missing: every CA in "cas" needs a contact address it can write to; add "contact": "ops@example.com"'
                    : undefined,
              })
              .regex(EMAIL_PATTERN, 'must be an email address'),
            eab: eab.optional(),
            /** RFC 8659 issuer domain names in CAA records; defaults to the directory's caaIdentities. */
            caaIdentities: z.array(z.string().min(1)).min(1).optional(),
          })
          .strict(),
      )
      .min(1, 'is empty: list at least one CA, preferred first')
      .optional(),
    caFallback: caFallbackSchema.default(DEFAULT_CA_FALLBACK),
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
        /** Secrets Manager ARN of the generic webhook's URL (URLs often carry a token). */
        webhookUrlSecretArn: secretArn.optional(),
      })
      .strict()
      .default({ email: [] }),
    /** Serve challenges/http-01/* publicly from the bucket, for servers that proxy to S3. */
    http01PublicRead: z.boolean().default(false),
    /**
     * Agents declared at deploy, the way certificates are (more can be added at run time with
     * `certkeeper agent add`): each receives the certificates it names and every certificate
     * whose labels include all of its `labels`. No stack resource is made per agent.
     */
    agents: z
      .array(
        z
          .object({
            name: z.string().regex(AGENT_NAME_PATTERN, 'must be lower-case letters, digits and hyphens'),
            certificates: z.array(z.string()).default([]),
            labels: labelsInput.optional(),
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
        /**
         * How long an agent's client certificate (its identity) is valid; it renews itself at
         * half of that. Short: a stolen identity is worth little for long.
         */
        agentIdentityHours: z.number().int().min(1).max(720).default(DEFAULT_AGENT_IDENTITY_HOURS),
      })
      .strict()
      .default({
        lagMinutes: 30,
        acmImportsPerYear: ACM_IMPORTS_PER_YEAR,
        agentIdentityHours: DEFAULT_AGENT_IDENTITY_HOURS,
      }),
    certificates: z.array(certificateSpecInput.strict()).default([]),
  })
  .strict();

export type DeploymentConfigInput = z.input<typeof deploymentConfigSchema>;

export interface DeclaredAgent {
  name: string;
  selector: AgentSelector;
}

export interface DeploymentConfig extends Omit<
  z.output<typeof deploymentConfigSchema>,
  'certificates' | 'ca' | 'cas' | 'agents'
> {
  /** The agents declared at deploy, with their selectors validated. */
  agents: DeclaredAgent[];
  /** The preferred CA's directory URL, resolved from a well-known name. */
  directoryUrl: string;
  /** The preferred CA (the first of `cas`), for what only ever talks to one. */
  ca: { directory: string; contact?: string; eab?: z.infer<typeof eab> };
  /** The CAs in order of preference, resolved (one entry for a config with `ca`). */
  cas: CaSettings[];
  certificates: CertificateSpec[];
}

/**
 * Validates a parsed config file. Certificates go through the same checks as `certkeeper
 * add`, and cross-references (agents naming certificates, DNS-01 without any hosted zone)
 * are checked here so `cdk synth` fails before anything is deployed.
 */
export function parseDeploymentConfig(input: unknown, source = 'certkeeper.config.json'): DeploymentConfig {
  refusePlainWebhookUrl(input, source);
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
  const seenAgents = new Set<string>();
  const agents = raw.agents.map((agent, i): DeclaredAgent => {
    const field = `config.agents[${i}]`;
    if (seenAgents.has(agent.name)) {
      throw prefixed(
        new ValidationError(
          `${field}.name`,
          `"${agent.name}" is declared twice`,
          'give each agent its own name',
        ),
        source,
      );
    }
    seenAgents.add(agent.name);
    agent.certificates.forEach((name, j) => {
      if (!names.has(name)) {
        throw prefixed(
          new ValidationError(
            `${field}.certificates[${j}]`,
            `"${name}" is not a declared certificate`,
            `declare it under "certificates" or remove it (declared: ${[...names].join(', ') || 'none'})`,
          ),
          source,
        );
      }
    });
    try {
      return { name: agent.name, selector: parseSelector(agent, field) };
    } catch (err) {
      throw err instanceof ValidationError ? prefixed(err, source) : err;
    }
  });
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
  const cas = resolveCas(raw, source);
  const preferred = cas[0]!;
  return {
    ...raw,
    directoryUrl: preferred.directoryUrl,
    ca: {
      directory: preferred.directoryUrl,
      contact: preferred.contact,
      eab: preferred.eab && { kid: preferred.eab.kid, hmacKeySecretArn: preferred.eab.hmacKeySecretArn! },
    },
    cas,
    certificates,
    agents,
  };
}

/**
 * The older `alerts.webhookUrl` is refused at synth: a webhook URL usually carries its
 * credential (a token in the path or query), which in the config would be plain text in the
 * template, the notifier's environment and every deployment artefact, where Slack's and
 * Telegram's are Secrets Manager ARNs. Refused rather than warned about: a warning still
 * deploys the token.
 */
function refusePlainWebhookUrl(input: unknown, source: string): void {
  const alerts = (input as { alerts?: unknown } | null)?.alerts;
  if (typeof alerts !== 'object' || alerts === null || !('webhookUrl' in alerts)) return;
  throw prefixed(
    new ValidationError(
      'config.alerts.webhookUrl',
      "is not accepted: the URL (which usually carries a token) would be plain text in the CloudFormation template and the notifier Lambda's environment",
      'store the URL as a Secrets Manager secret (aws secretsmanager create-secret --name certkeeper/webhook --secret-string URL) and give its ARN as alerts.webhookUrlSecretArn',
    ),
    source,
  );
}

/** `cas` (or the single `ca`, or Let's Encrypt when neither is given) resolved and named. */
function resolveCas(raw: z.output<typeof deploymentConfigSchema>, source: string): CaSettings[] {
  if (raw.ca && raw.cas) {
    throw prefixed(
      new ValidationError(
        'config.cas',
        'is given together with config.ca',
        'move the "ca" entry into "cas" (preferred first)',
      ),
      source,
    );
  }
  type Entry = NonNullable<typeof raw.cas>[number];
  const entries: Array<Omit<Entry, 'contact'> & { contact?: string }> = raw.cas ?? [
    raw.ca ?? { directory: 'letsencrypt' },
  ];
  const seen = new Map<string, number>();
  return entries.map((entry, i) => {
    const name = entry.name ?? defaultCaName(entry.directory);
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      throw prefixed(
        new ValidationError(
          `config.cas[${i}].name`,
          `"${name}" is also the name of config.cas[${earlier}]`,
          'give each CA its own "name"',
        ),
        source,
      );
    }
    seen.set(name, i);
    return {
      name,
      directoryUrl: resolveDirectoryName(entry.directory),
      ...(entry.contact ? { contact: entry.contact } : {}),
      ...(entry.eab ? { eab: { kid: entry.eab.kid, hmacKeySecretArn: entry.eab.hmacKeySecretArn } } : {}),
      ...(entry.caaIdentities ? { caaIdentities: entry.caaIdentities } : {}),
    };
  });
}

function prefixed(error: ValidationError, source: string): ValidationError {
  return new ValidationError(
    error.field,
    `${error.message.slice(error.field.length + 2)} (in ${source})`,
    error.fix ?? '',
  );
}
