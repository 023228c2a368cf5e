import * as z from 'zod';
import { KEY_TYPES } from '../model/keys.js';
import { CHALLENGE_TYPES, type CertificateSpec, NAME_PATTERN, zodToValidationError } from '../model/spec.js';
import type { CertificateState, CertificateStatus } from '../model/state.js';
import { certificateEvent } from '../notify/parse.js';

/**
 * Schemas for spec and state as stored by the inventory adapters (JSON). They check the
 * stored shape, not operator input: `parseCertificateSpec` already validated the spec when
 * it was declared, and re-running it here could change a stored spec (defaults) on read.
 */
const STATUSES = [
  'pending',
  'valid',
  'failing',
  'expired',
  'retired',
] as const satisfies readonly CertificateStatus[];
// Fails to compile when CertificateStatus gains a value the schema does not know.
const _allStatuses: Exclude<CertificateStatus, (typeof STATUSES)[number]> extends never ? true : never = true;

const time = z.iso.datetime({ offset: true });
const text = z.string().min(1);

const storedSpec = z
  .object({
    name: z.string().regex(NAME_PATTERN),
    identifiers: z
      .array(
        z.discriminatedUnion('type', [
          z.object({ type: z.literal('dns'), value: text }),
          z.object({ type: z.literal('ip'), value: text }),
        ]),
      )
      .min(1),
    challenge: z.enum(CHALLENGE_TYPES),
    profile: text.optional(),
    keyType: z.enum(KEY_TYPES),
    hostedZoneId: text.optional(),
    renewBefore: text.optional(),
    renewBeforePercentage: z.number().optional(),
    delivery: z
      .object({
        agents: z.array(text),
        probes: z.array(z.object({ host: text, port: z.number().int(), sni: text.optional() })),
        acmRegions: z.array(text),
      })
      .optional(),
  })
  // JSON drops undefined members; CertificateSpec wants every key present.
  .transform((s): CertificateSpec => ({
    name: s.name,
    identifiers: s.identifiers,
    challenge: s.challenge,
    profile: s.profile,
    keyType: s.keyType,
    hostedZoneId: s.hostedZoneId,
    renewBefore: s.renewBefore,
    renewBeforePercentage: s.renewBeforePercentage,
    ...(s.delivery ? { delivery: s.delivery } : {}),
  }));

const storedState: z.ZodType<CertificateState> = z.object({
  status: z.enum(STATUSES),
  current: z
    .object({
      serial: text,
      notBefore: time,
      notAfter: time,
      manifestKey: text,
      certId: text.optional(),
      profile: text.optional(),
    })
    .optional(),
  ari: z
    .object({
      certId: text,
      windowStart: time.optional(),
      windowEnd: time.optional(),
      selectedAt: time.optional(),
      explanationURL: text.optional(),
      lastPolledAt: time,
      nextPollAt: time,
      lastError: z.string().optional(),
    })
    .optional(),
  alertsSent: z.object({ serial: text, kinds: z.array(z.enum(['third', 'day'])) }).optional(),
  reissue: z.boolean().optional(),
  dueAt: time.optional(),
  attempts: z.number().int().nonnegative(),
  lastError: z
    .object({ code: z.string(), type: z.string().optional(), detail: z.string(), at: time })
    .optional(),
  nextAttemptAt: time.optional(),
  lastSuccessAt: time.optional(),
  orderUrl: text.optional(),
  outbox: z.array(certificateEvent).optional(),
  acm: z
    .record(
      z.string(),
      z.object({
        arn: text.optional(),
        serial: text.optional(),
        keyType: text.optional(),
        importedAt: time.optional(),
        error: z.string().optional(),
        attemptedAt: time,
        failures: z.number().int().min(1).optional(),
        retryAt: time.optional(),
      }),
    )
    .optional(),
  updatedAt: time,
});

/** The stored spec of the item for `name`: one stored under another name is corrupted too. */
export const storedSpecFor = (name: string) =>
  storedSpec.refine((spec) => spec.name === name, {
    message: `does not match the item name "${name}"`,
    path: ['name'],
  });

export { storedState };

/**
 * Spec and state as they are stored, validated with the read schemas first: a value that
 * would come back as "corrupted" is refused at the write, where the bug that produced it is.
 */
export const toStoredSpec = (spec: CertificateSpec): CertificateSpec =>
  validForWrite(storedSpec, spec, 'spec');
export const toStoredState = (state: CertificateState): CertificateState =>
  validForWrite(storedState, state, 'state');

function validForWrite<S extends z.ZodType>(schema: S, value: unknown, field: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw zodToValidationError(parsed.error, field);
  return parsed.data;
}
