import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import * as z from 'zod';
import { parseListen } from '../shared/challenges/listen.js';
import { ValidationError } from '../shared/model/errors.js';
import { parseIdentifiers } from '../shared/model/identifiers.js';
import { NAME_PATTERN } from '../shared/model/spec.js';
import { parseJson } from '../shared/model/json.js';
import { configError } from '../shared/model/suggest.js';
import { AGENT_NAME_PATTERN } from '../shared/model/delivery.js';

/**
 * The agent's configuration file (one per server, e.g. /etc/certkeeper/agent.json). Every
 * error names the file, the field and the fix, because the agent usually starts under
 * systemd where that one log line is all an operator gets.
 */
export const DEFAULT_STATE_FILE = '/var/lib/certkeeper/agent.json';
/** Where a registry agent keeps its identity: its keys (0600), its certificate, the CA's. */
export const DEFAULT_IDENTITY_DIR = '/var/lib/certkeeper/identity';
/** Where a registry agent installs what it receives without a target of its own: <dir>/<name>/. */
export const DEFAULT_CERTIFICATES_DIR = '/etc/ssl/certkeeper';

/** Cert files default to world-readable: they are public; the key is always 0600. */
export const DEFAULT_CERT_MODE = 0o644;
export const KEY_MODE = 0o600;

const path = z.string().min(1, 'must be a file path');
/**
 * One check with one message per field: a zod union of a string and a number schema
 * reports a wrong value of either kind only as "Invalid input".
 */
const checked = <T>(test: (v: string | number) => T | undefined, message: string) =>
  z.union([z.string(), z.number()]).transform((v, ctx): T => {
    const out = test(v);
    if (out === undefined) {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    return out;
  });

/** A user or group: a name as in /etc/passwd, or a numeric id. */
const principal = checked(
  (v) =>
    (typeof v === 'number' ? Number.isInteger(v) && v >= 0 : /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(v))
      ? v
      : undefined,
  'must be a user or group name, or a numeric id',
);
// JSON has no octal literals: "0640" (a string) is what people mean; a number is taken as
// the mode's value (0o640 written from code), and one above 0o777 is refused rather than
// guessed at (644 in JSON is almost certainly meant as "0644").
const mode = checked((v) => {
  const n = typeof v === 'string' ? (/^0?[0-7]{3}$/.test(v) ? parseInt(v, 8) : NaN) : v;
  return Number.isInteger(n) && n >= 0 && n <= 0o777 ? n : undefined;
}, 'must be an octal mode written as a string, e.g. "0644" (a number is taken as the value, at most 0o777)');
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):\d{1,5}$/, 'must be "host:port"');

const verifySchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    /** Server name to send; defaults to the certificate's first DNS name (none for IPs). */
    sni: z.string().min(1).optional(),
    timeoutSeconds: z.number().positive().max(600).default(20),
  })
  .strict();

const targetSchema = z
  .object({
    fullchain: path,
    key: path,
    chain: path.optional(),
    cert: path.optional(),
    owner: principal.optional(),
    group: principal.optional(),
    mode: mode.optional(),
    /** What the leaf must name; defaults to the manifest's identifiers. */
    identifiers: z.array(z.string()).min(1, 'list at least one DNS name or IP address').optional(),
    /** Overrides the top-level `verify` for this certificate (one listener per certificate). */
    verify: verifySchema.optional(),
  })
  .strict();

/**
 * A registry agent's identity and the stack it belongs to: written by `certkeeper agent
 * join` from what the enrolment answered. Its presence is what makes an agent a registry
 * agent (credentials through IAM Roles Anywhere, certificates from its inbox); without it
 * the agent reads the bucket directly with the credentials it finds (direct mode).
 */
const identitySchema = z
  .object({
    directory: path.default(DEFAULT_IDENTITY_DIR),
    /** The identity endpoint (enrolment and renewal), from the join token. */
    enrolUrl: z.url({ error: 'must be the identity endpoint URL from the join token' }),
    region: z.string().min(1),
    fleetTable: z.string().min(3),
    trustAnchorArn: z.string().min(1),
    profileArn: z.string().min(1),
    roleArn: z.string().min(1),
    /** Only where Roles Anywhere is not the region's own endpoint (tests). */
    rolesAnywhereEndpoint: z.url().optional(),
    /** An extra CA for the TLS of the endpoints above (tests, private endpoints). */
    endpointCaFile: path.optional(),
  })
  .strict();

export const agentConfigSchema = z
  .object({
    /**
     * This server's agent name (in the registry, or the deployment config's `agents`): the
     * agent reports under it what it installed and serves, which the fleet view reads.
     */
    name: z
      .string()
      .regex(
        AGENT_NAME_PATTERN,
        'must be the agent name from the deployment config (lower-case letters, digits and hyphens)',
      )
      .optional(),
    bucket: z.string().min(3, 'must be the certificate bucket name (the stack output BucketName)'),
    region: z.string().min(1).optional(),
    identity: identitySchema.optional(),
    /**
     * Install targets by certificate name. A registry agent installs what its inbox names,
     * each certificate listed here where it says and any other under certificatesDirectory;
     * an agent in direct mode installs exactly these.
     */
    certificates: z
      // Names are checked in parse(): zod reports a bad record key without saying why.
      .record(z.string(), targetSchema)
      .default({}),
    certificatesDirectory: path.default(DEFAULT_CERTIFICATES_DIR),
    reload: z
      .object({
        /** Each runs through /bin/sh -c, in order; the first failure stops the rest. */
        commands: z
          .array(z.string().min(1))
          .min(1, 'list at least one command, e.g. "systemctl reload nginx"'),
        timeoutSeconds: z.number().positive().max(3600).default(30),
      })
      .strict()
      .optional(),
    verify: verifySchema.optional(),
    /** Obsolete (per-agent queues are gone): accepted so an upgraded server starts, and ignored with a warning. */
    queueUrl: z.string().optional(),
    /** A full check (every certificate against the disk and the server) this often. */
    pollIntervalSeconds: z.number().int().min(1).max(86_400).default(300),
    /**
     * A registry agent reads its inbox's generation this often: one small DynamoDB read, the
     * agent's main idle cost, and how soon a renewal arrives (see docs: cost against speed).
     */
    eventPollSeconds: z.number().int().min(1).max(3600).default(20),
    /** The report is written when it changes and at least this often; three of these without one is silence. */
    reportIntervalSeconds: z.number().int().min(1).max(86_400).default(900),
    http01Listen: hostPort.optional(),
    /** Where the TLS-ALPN-01 responder listens (acme-tls/1 routed here from port 443). */
    tlsAlpn01Listen: hostPort.optional(),
    fallbackSelfSigned: z.boolean().default(false),
    stateFile: path.default(DEFAULT_STATE_FILE),
    prometheusTextfile: path.optional(),
    trustedCaFile: path.optional(),
  })
  .strict();

export type AgentConfigInput = z.input<typeof agentConfigSchema>;
type Parsed = z.output<typeof agentConfigSchema>;
export type VerifyConfig = z.output<typeof verifySchema>;

/** One certificate's install targets, with paths absolute and defaults filled. */
export interface CertificateTarget extends Omit<Parsed['certificates'][string], 'mode'> {
  name: string;
  mode: number;
}

export interface AgentConfig extends Omit<Parsed, 'certificates' | 'http01Listen' | 'tlsAlpn01Listen'> {
  /** The explicitly configured targets (all of them, in direct mode). */
  certificates: Record<string, CertificateTarget>;
  /** Things the operator should fix in the file that do not stop the agent (an obsolete key). */
  warnings: string[];
  http01Listen: { host: string; port: number } | undefined;
  tlsAlpn01Listen: { host: string; port: number } | undefined;
  /** Where the file was read from, for messages. */
  source: string;
}

/** Command-line flags that win over the file. */
export type AgentConfigOverrides = Partial<Omit<AgentConfigInput, 'certificates'>>;

/** Reads and validates a config file; relative paths in it are relative to the file. */
export function loadAgentConfig(file: string, overrides: AgentConfigOverrides = {}): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ValidationError(
      file,
      `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      'pass --config with the path of the agent config (see agent/examples/agent.config.json)',
    );
  }
  // Only the syntax here: the command line's overrides are merged in before the schema runs.
  const input = parseJson(text, z.unknown(), {
    as: (p) => new ValidationError(file, `is not valid JSON (${p.message})`, 'correct the JSON syntax'),
  });
  const merged =
    typeof input === 'object' && input !== null
      ? { ...input, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) }
      : input;
  return parseAgentConfig(merged, file, dirname(resolve(file)));
}

/** Validates an already-parsed config; `baseDir` anchors relative paths. */
export function parseAgentConfig(
  input: unknown,
  source = 'agent config',
  baseDir = process.cwd(),
): AgentConfig {
  try {
    return parse(input, source, baseDir);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    // Name the file once, in front, the way the deployment config does.
    throw new ValidationError(
      `${source}: ${err.field}`,
      err.message.slice(err.field.length + 2),
      err.fix ?? '',
    );
  }
}

function parse(input: unknown, source: string, baseDir: string): AgentConfig {
  const parsed = agentConfigSchema.safeParse(input);
  if (!parsed.success) {
    const e = configError(parsed.error, 'config', agentConfigSchema);
    throw new ValidationError(
      e.field.replace(/^config\./, ''),
      e.message.slice(e.field.length + 2),
      e.fix ?? '',
    );
  }
  const raw = parsed.data;
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  if (!raw.identity && Object.keys(raw.certificates).length === 0) {
    throw new ValidationError(
      'certificates',
      'is empty, and there is no identity (this agent has not joined)',
      'list at least one certificate to install from the bucket, or join the registry: certkeeper agent join <token>',
    );
  }
  const warnings: string[] = [];
  if (raw.queueUrl !== undefined) {
    warnings.push(
      `${source}: queueUrl is obsolete (per-agent queues were removed) and ignored; delete it, and move this server to the registry with certkeeper agent join <token>`,
    );
  }
  const seen = new Map<string, string>();
  const certificates: Record<string, CertificateTarget> = {};
  for (const [name, t] of Object.entries(raw.certificates)) {
    const field = `certificates.${name}`;
    if (!NAME_PATTERN.test(name)) {
      throw new ValidationError(
        field,
        'is not a certificate name',
        'use the name declared in the stack config: lower-case letters, digits, ".", "_" or "-"',
      );
    }
    if (t.identifiers) parseIdentifiers(t.identifiers, `${field}.identifiers`);
    const target: CertificateTarget = {
      ...t,
      name,
      fullchain: abs(t.fullchain),
      key: abs(t.key),
      chain: t.chain === undefined ? undefined : abs(t.chain),
      cert: t.cert === undefined ? undefined : abs(t.cert),
      mode: t.mode ?? DEFAULT_CERT_MODE,
    };
    // Two targets on one path would overwrite each other (and could put the key in a 0644 file).
    for (const kind of ['fullchain', 'key', 'chain', 'cert'] as const) {
      const p = target[kind];
      if (p === undefined) continue;
      const other = seen.get(p);
      if (other) {
        throw new ValidationError(
          `${field}.${kind}`,
          `"${p}" is also ${other}`,
          'give every file its own path',
        );
      }
      seen.set(p, `${field}.${kind}`);
    }
    certificates[name] = target;
  }
  return {
    ...raw,
    certificates,
    warnings,
    identity: raw.identity && {
      ...raw.identity,
      directory: abs(raw.identity.directory),
      endpointCaFile:
        raw.identity.endpointCaFile === undefined ? undefined : abs(raw.identity.endpointCaFile),
    },
    certificatesDirectory: abs(raw.certificatesDirectory),
    stateFile: abs(raw.stateFile),
    prometheusTextfile: raw.prometheusTextfile === undefined ? undefined : abs(raw.prometheusTextfile),
    trustedCaFile: raw.trustedCaFile === undefined ? undefined : abs(raw.trustedCaFile),
    http01Listen: raw.http01Listen === undefined ? undefined : parseListen(raw.http01Listen, 'http01Listen'),
    tlsAlpn01Listen:
      raw.tlsAlpn01Listen === undefined ? undefined : parseListen(raw.tlsAlpn01Listen, 'tlsAlpn01Listen'),
    source,
  };
}

/**
 * The install targets of a certificate: its own entry in `certificates`, else the registry
 * agent's default, `<certificatesDirectory>/<name>/{fullchain,privkey,cert,chain}.pem`.
 */
export function targetFor(config: AgentConfig, name: string): CertificateTarget | undefined {
  if (Object.hasOwn(config.certificates, name)) return config.certificates[name];
  if (!config.identity || !NAME_PATTERN.test(name)) return undefined;
  const dir = resolve(config.certificatesDirectory, name);
  return {
    name,
    fullchain: resolve(dir, 'fullchain.pem'),
    key: resolve(dir, 'privkey.pem'),
    cert: resolve(dir, 'cert.pem'),
    chain: resolve(dir, 'chain.pem'),
    mode: DEFAULT_CERT_MODE,
  };
}
