import * as z from 'zod';
import { KEY_TYPES } from '../model/key-types.js';
import { CHALLENGE_TYPES, type CertificateSpec, NAME_PATTERN } from '../model/spec.js';
import { zodToValidationError } from '../model/json.js';
import { type CertificateState, certificateStateSchema } from '../model/state.js';

/**
 * The schema for the spec as stored by the inventory adapters (JSON); the state's is the
 * model's own (`certificateStateSchema`). It checks the stored shape, not operator input:
 * `parseCertificateSpec` already validated the spec when it was declared, and re-running it
 * here could change a stored spec (defaults) on read.
 */
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
    labels: z.record(z.string(), z.string()).optional(),
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
    ...(s.labels && Object.keys(s.labels).length ? { labels: s.labels } : {}),
  }));

/** The stored spec of the item for `name`: one stored under another name is corrupted too. */
export const storedSpecFor = (name: string) =>
  storedSpec.refine((spec) => spec.name === name, {
    message: `does not match the item name "${name}"`,
    path: ['name'],
  });

/** The stored state: the model's schema, tolerant of unknown keys. */
export const storedState = certificateStateSchema;

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
