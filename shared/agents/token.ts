import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';
import { parseAgentName } from '../model/agent.js';
import { ValidationError } from '../model/errors.js';

/**
 * The one-time enrolment token an operator hands to a server (`certkeeper agent add` prints
 * it, `certkeeper agent join <token>` takes it). It carries what the server needs to find the
 * stack - the enrolment URL, the region, its own name - and 256 random bits; the registry
 * keeps only their SHA-256, so a copy of the table enrols nobody. Text form:
 * `ckj1.<base64url(JSON)>`, one word a shell passes through untouched.
 */
const PREFIX = 'ckj1.';

const tokenSchema = z
  .object({
    /** Enrolment endpoint (the identity function's URL). */
    url: z.url(),
    region: z.string().min(1).max(32),
    agent: z.string(),
    /** 32 random bytes, base64url. */
    secret: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
    expiresAt: z.iso.datetime({ offset: true }),
  })
  .strict();

export type EnrolmentToken = z.infer<typeof tokenSchema>;

/** A new token for `agent`; the caller stores {@link tokenSha256} of its secret. */
export function newEnrolmentToken(fields: Omit<EnrolmentToken, 'secret'>): EnrolmentToken {
  return { ...fields, secret: randomBytes(32).toString('base64url') };
}

export const formatEnrolmentToken = (token: EnrolmentToken): string =>
  `${PREFIX}${Buffer.from(JSON.stringify(token)).toString('base64url')}`;

const FIX =
  'copy the whole token `certkeeper agent add` (or `agent token`) printed: one word starting with ckj1.';

/** Reads a token's text; the error says what is wrong with it, never the secret. */
export function parseEnrolmentToken(text: string, field = 'token'): EnrolmentToken {
  const trimmed = text.trim();
  if (!trimmed.startsWith(PREFIX) || trimmed.length > 2048) {
    throw new ValidationError(field, 'is not a certkeeper enrolment token', FIX);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(trimmed.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw new ValidationError(field, 'is damaged (not base64url JSON after ckj1.)', FIX);
  }
  const parsed = tokenSchema.safeParse(json);
  if (!parsed.success) throw new ValidationError(field, 'is damaged (a field is missing or malformed)', FIX);
  parseAgentName(parsed.data.agent, `${field}.agent`);
  return parsed.data;
}

/** What the registry keeps of a token. */
export const tokenSha256 = (secret: string): string =>
  createHash('sha256').update(secret, 'utf8').digest('hex');

/** Compares a presented secret with a stored hash in constant time. */
export function tokenMatches(secret: string, storedSha256: string): boolean {
  const a = Buffer.from(tokenSha256(secret), 'hex');
  const b = Buffer.from(storedSha256, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
