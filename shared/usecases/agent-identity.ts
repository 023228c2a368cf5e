import { X509Certificate, createPublicKey, verify } from 'node:crypto';
import {
  EnrolmentRefusedError,
  checkJoin,
  checkRenewal,
  joinedRecord,
  renewedRecord,
} from '../agents/records.js';
import type { AgentRegistry } from '../agents/registry.js';
import { checkAgentCsr } from '../identity/csr-check.js';
import type { CaSigner } from '../identity/signer.js';
import { agentCertificate, newSerial } from '../identity/x509.js';
import { type AgentIdentity, type AgentRecord, canonicalSerial, parseAgentName } from '../model/agent.js';
import { type Clock, MINUTE } from '../model/clock.js';
import { ValidationError } from '../model/errors.js';
import {
  type AgentSettings,
  type IdentityRequest,
  type IdentityResponse,
  identityRequestSchema,
  renewalPayload,
} from '../identity/protocol.js';
import type { Log } from '../model/log.js';

/**
 * Identities for agents, from certkeeper's own CA: `join` spends a one-time token for a
 * first client certificate, `renew` trades a valid current identity for the next one. Only
 * a CSR travels: the server's key never leaves it. What a server needs to run comes back
 * with the certificate (`settings`), so the token is all an operator hands over.
 */
export interface IdentityDeps {
  registry: AgentRegistry;
  signer: CaSigner;
  /** The CA certificate (PEM): the trust anchor Roles Anywhere holds. */
  caCertificate: string;
  clock: Clock;
  /** How long a client certificate is valid. */
  lifetimeMs: number;
  settings: AgentSettings;
  /** Asks for the agent's first delivery (usecases/deliver-certificates.ts), asynchronously. */
  requestDelivery(agent: string): Promise<void>;
  log: Log;
}

/** How far a request's time may be from the CA's: as far as AWS allows a signed request (SigV4: 5 minutes). */
export const MAX_CLOCK_SKEW_MS = 5 * MINUTE;
/** Client certificates start this much before issuance, for a verifier whose clock is behind. */
const BACKDATE_MS = 5 * MINUTE;

export async function handleIdentityRequest(deps: IdentityDeps, input: unknown): Promise<IdentityResponse> {
  const parsed = identityRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(
      issue?.path.join('.') || 'request',
      issue?.message ?? 'is not an identity request',
      'use certkeeper agent join (or let the agent renew itself); this endpoint takes its requests only',
    );
  }
  const request = parsed.data;
  parseAgentName(request.agent);
  return request.action === 'join' ? join(deps, request) : renew(deps, request);
}

async function join(
  deps: IdentityDeps,
  request: Extract<IdentityRequest, { action: 'join' }>,
): Promise<IdentityResponse> {
  const now = deps.clock.now();
  const name = request.agent;
  // Refusals first, before any signature: a wrong token costs the caller nothing of ours.
  checkJoin(await deps.registry.get(name), name, request.token, now);
  const csr = checkAgentCsr(request.csr, name);
  checkDeliveryKey(request.deliveryKey);
  const { certificate, identity } = await issue(deps, name, csr.publicKey, now);
  // Spent in the same conditional write that records the identity: of two joins racing
  // with one token, the second finds it used and its certificate is never handed out.
  await deps.registry.update(name, (stored) =>
    joinedRecord(checkJoin(stored, name, request.token, now), identity, request.deliveryKey, now),
  );
  deps.log.info(`agent ${name} joined`, { serial: identity.serial, notAfter: identity.notAfter });
  await deps.requestDelivery(name);
  return respond(deps, name, certificate, identity);
}

async function renew(
  deps: IdentityDeps,
  request: Extract<IdentityRequest, { action: 'renew' }>,
): Promise<IdentityResponse> {
  const now = deps.clock.now();
  const name = request.agent;
  const skew = Date.parse(request.time) - now.getTime();
  if (Math.abs(skew) > MAX_CLOCK_SKEW_MS) {
    throw new EnrolmentRefusedError(
      'clock-skew',
      `the request's time is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} the CA's clock (more than ${MAX_CLOCK_SKEW_MS / 1000} s)`,
      "set this server's clock right (NTP: timedatectl set-ntp true) and let the agent try again",
    );
  }
  const current = presentedIdentity(deps, request, now);
  checkRenewal(await deps.registry.get(name), name, current, now);
  const csr = checkAgentCsr(request.csr, name);
  const { certificate, identity } = await issue(deps, name, csr.publicKey, now);
  await deps.registry.update(name, (stored) =>
    renewedRecord(checkRenewal(stored, name, current, now), identity, now),
  );
  deps.log.info(`agent ${name} renewed its identity`, {
    serial: identity.serial,
    notAfter: identity.notAfter,
  });
  return respond(deps, name, certificate, identity);
}

/** The presented certificate is ours, valid now, names the agent, and its key signed the request: its serial. */
function presentedIdentity(
  deps: IdentityDeps,
  request: Extract<IdentityRequest, { action: 'renew' }>,
  now: Date,
): string {
  const refuse = (why: string): never => {
    throw new EnrolmentRefusedError(
      'not-current-identity',
      `agent ${request.agent}: ${why}`,
      `join again with a new token: certkeeper agent token ${request.agent}, then certkeeper agent join <token> on the server`,
    );
  };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(request.certificate);
  } catch {
    return refuse('the presented certificate cannot be read');
  }
  if (!cert.verify(new X509Certificate(deps.caCertificate).publicKey))
    refuse('the presented certificate is not from this CA');
  if (cert.subject !== `O=certkeeper\nCN=${request.agent}`)
    refuse(`the presented certificate is ${cert.subject.replace('\n', ', ')}`);
  if (Date.parse(cert.validTo) <= now.getTime())
    refuse(`the presented certificate expired at ${new Date(cert.validTo).toISOString()}`);
  const signed = verify(
    null,
    renewalPayload(request.agent, request.time, request.csr),
    { key: cert.publicKey, dsaEncoding: 'der' },
    Buffer.from(request.signature, 'base64'),
  );
  if (!signed) refuse("the request is not signed by the presented certificate's key");
  return canonicalSerial(cert.serialNumber);
}

async function issue(
  deps: IdentityDeps,
  agent: string,
  subjectKey: Buffer,
  now: Date,
): Promise<{ certificate: string; identity: AgentIdentity }> {
  const serial = newSerial();
  // At most a tenth of the lifetime: the agent renews at half of what the certificate says.
  const notBefore = new Date(now.getTime() - Math.min(BACKDATE_MS, deps.lifetimeMs / 10));
  const notAfter = new Date(now.getTime() + deps.lifetimeMs);
  const certificate = await agentCertificate(deps.signer, deps.caCertificate, {
    agent,
    subjectKey,
    serial,
    notBefore,
    notAfter,
  });
  const identity: AgentIdentity = {
    serial,
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    issuedAt: now.toISOString(),
  };
  return { certificate, identity };
}

function respond(
  deps: IdentityDeps,
  agent: string,
  certificate: string,
  identity: AgentIdentity,
): IdentityResponse {
  return {
    agent,
    certificate,
    caCertificate: deps.caCertificate,
    notAfter: identity.notAfter,
    settings: deps.settings,
  };
}

function checkDeliveryKey(text: string): void {
  try {
    const key = createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return;
  } catch {
    // refused below
  }
  throw new ValidationError(
    'deliveryKey',
    'is not an EC P-256 public key (SPKI DER, base64)',
    'let certkeeper agent join make it',
  );
}

/** The agent record as the CLI shows it: never the token's hash. */
export const publicAgentRecord = (
  record: AgentRecord,
): Omit<AgentRecord, 'enrolment'> & {
  enrolment?: { issuedAt: string; expiresAt: string; usedAt?: string };
} => ({
  ...record,
  enrolment: record.enrolment && {
    issuedAt: record.enrolment.issuedAt,
    expiresAt: record.enrolment.expiresAt,
    ...(record.enrolment.usedAt ? { usedAt: record.enrolment.usedAt } : {}),
  },
});
