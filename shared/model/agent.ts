import * as z from 'zod';
import { AGENT_NAME_PATTERN } from './delivery.js';
import { ValidationError } from './errors.js';
import { type Labels, formatLabels, labelsInput, parseLabels } from './labels.js';
import { NAME_PATTERN } from './spec.js';

/**
 * An agent as data: a server that installs certificates, named in the registry (the
 * deployment table, or local mode's files), receiving certificates by name or by label
 * selector, and proving who it is with a short client certificate from certkeeper's own CA.
 */

/** Which certificates an agent receives: these names, and every certificate whose labels include all of `labels`. */
export interface AgentSelector {
  certificates: string[];
  labels: Labels;
}

const time = z.iso.datetime({ offset: true });

export const AGENT_STATUSES = ['pending', 'active', 'removed'] as const;
/**
 * pending: registered, no identity yet (waiting for `agent join`); active: holds an
 * identity; removed: cut off (its identity revoked), kept for the fleet view and the CRL.
 */
export type AgentStatus = (typeof AGENT_STATUSES)[number];

const selectorSchema = z
  .object({
    certificates: z.array(z.string().regex(NAME_PATTERN)),
    labels: labelsInput,
  })
  .strict();

/**
 * A certificate serial as certkeeper stores and compares it: lower-case hex without leading
 * zeros, the form Node's X509Certificate and a decoded CRL give once the DER sign octet is gone.
 */
export const canonicalSerial = (hex: string): string => hex.toLowerCase().replace(/^0+(?=.)/, '');

// Records written before serials were canonical may hold a leading zero: read them canonical.
const serialSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{1,40}$/)
  .transform(canonicalSerial);

const identitySchema = z
  .object({
    /** The client certificate's serial (canonicalSerial). */
    serial: serialSchema,
    notBefore: time,
    notAfter: time,
    issuedAt: time,
  })
  .strict();

export const agentRecordSchema = z
  .object({
    version: z.literal(1),
    name: z.string().regex(AGENT_NAME_PATTERN),
    selector: selectorSchema,
    /** Declared in the deployment config (inventory-sync owns it) or added at run time. */
    source: z.enum(['config', 'cli']),
    status: z.enum(AGENT_STATUSES),
    createdAt: time,
    updatedAt: time,
    removedAt: time.optional(),
    /** The one-time enrolment token: its SHA-256 only, never the token itself. */
    enrolment: z
      .object({
        tokenSha256: z.string().regex(/^[0-9a-f]{64}$/),
        issuedAt: time,
        expiresAt: time,
        usedAt: time.optional(),
      })
      .strict()
      .optional(),
    identity: identitySchema.optional(),
    /**
     * The agent's delivery key (SPKI DER, base64): certificate keys are sealed to it
     * (shared/fleet/envelope.ts). Made on the server at join; its private half never leaves.
     */
    deliveryKey: z.string().min(1).max(2048).optional(),
    /** Identities revoked while still valid (on removal or re-enrolment): the CRL lists them until they expire. */
    revoked: z
      .array(z.object({ serial: z.string().regex(/^[0-9a-f]{1,40}$/), notAfter: time, at: time }).strict())
      .default([]),
  })
  .strict();

export type AgentRecord = z.infer<typeof agentRecordSchema>;
export type AgentIdentity = z.infer<typeof identitySchema>;

/**
 * Validates an operator's selector: a name list, labels, or both; at least one of them.
 * Certificate names are checked for form here; whether they exist is the caller's warning.
 */
export function parseSelector(
  input: { certificates?: readonly string[]; labels?: Readonly<Record<string, unknown>> },
  field: string,
): AgentSelector {
  const certificates = [...new Set(input.certificates ?? [])];
  certificates.forEach((name, i) => {
    if (!NAME_PATTERN.test(name)) {
      throw new ValidationError(
        `${field}.certificates[${i}]`,
        `"${name}" is not a certificate name`,
        'use the names certificates are declared with (lower-case letters, digits, ".", "_" or "-")',
      );
    }
  });
  const labels = parseLabels(input.labels ?? {}, `${field}.labels`);
  if (certificates.length === 0 && Object.keys(labels).length === 0) {
    throw new ValidationError(
      field,
      'selects nothing: it names no certificate and no label',
      'give --certificates NAME[,NAME...] and/or --labels key=value[,key=value...]',
    );
  }
  return { certificates: certificates.sort(), labels };
}

/** Checks an agent name; the message says what a name may hold. */
export function parseAgentName(name: string, field = 'agent'): string {
  if (!AGENT_NAME_PATTERN.test(name)) {
    throw new ValidationError(
      field,
      `${JSON.stringify(name)} is not an agent name`,
      'use 1-63 lower-case letters, digits and hyphens, starting with a letter or digit (e.g. web-7)',
    );
  }
  return name;
}

/** Does `selector` give this certificate to its agent? By name, or by all of its labels. */
export function selects(
  selector: AgentSelector,
  certificate: { name: string; labels?: Readonly<Labels> },
): boolean {
  if (selector.certificates.includes(certificate.name)) return true;
  const wanted = Object.entries(selector.labels);
  if (wanted.length === 0) return false;
  const labels = certificate.labels ?? {};
  return wanted.every(([k, v]) => Object.hasOwn(labels, k) && labels[k] === v);
}

/** "certificates web-7, labels role=edge": a selector as people read it. */
export function describeSelector(selector: AgentSelector): string {
  const parts: string[] = [];
  if (selector.certificates.length) parts.push(`certificates ${selector.certificates.join(', ')}`);
  if (Object.keys(selector.labels).length) parts.push(`labels ${formatLabels(selector.labels)}`);
  return parts.join('; ');
}

/** An agent that may hold credentials and receive certificates now. */
export const isReceiving = (agent: AgentRecord): boolean =>
  agent.status === 'active' && agent.deliveryKey !== undefined;
