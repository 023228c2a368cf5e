import { createHash } from 'node:crypto';
import * as z from 'zod';

/**
 * The identity endpoint's protocol, shared by both ends (usecases/agent-identity.ts answers
 * it, the agent's join and renewal speak it): JSON over HTTPS, one request per call.
 */
/** What a registry agent needs to know of the stack, handed over at join and renewal. */
export const agentSettingsSchema = z
  .object({
    region: z.string().min(1),
    bucket: z.string().min(3),
    fleetTable: z.string().min(3),
    trustAnchorArn: z.string().min(1),
    profileArn: z.string().min(1),
    roleArn: z.string().min(1),
    /** Only where the Roles Anywhere endpoint is not the region's own (tests). */
    rolesAnywhereEndpoint: z.string().url().optional(),
  })
  .strict();
export type AgentSettings = z.infer<typeof agentSettingsSchema>;

const b64 = z
  .string()
  .regex(/^[A-Za-z0-9+/]+={0,2}$/)
  .max(4096);
export const identityRequestSchema = z.discriminatedUnion('action', [
  z
    .object({
      action: z.literal('join'),
      agent: z.string(),
      /** The token's secret (not the whole token). */
      token: z.string().min(1).max(256),
      csr: z.string(),
      /** The agent's delivery key, SPKI DER base64 (an EC P-256 public key). */
      deliveryKey: b64,
    })
    .strict(),
  z
    .object({
      action: z.literal('renew'),
      agent: z.string(),
      csr: z.string(),
      /** The current client certificate, PEM. */
      certificate: z.string().max(8192),
      time: z.iso.datetime({ offset: true }),
      /** ECDSA/RSA signature by the current identity's key over renewalPayload(). */
      signature: b64,
    })
    .strict(),
]);
export type IdentityRequest = z.infer<typeof identityRequestSchema>;

export interface IdentityResponse {
  agent: string;
  certificate: string;
  caCertificate: string;
  notAfter: string;
  settings: AgentSettings;
}

/** What a renewal signs with the current key: the agent, the time and the new request, bound together. */
export const renewalPayload = (agent: string, time: string, csr: string): Buffer =>
  Buffer.from(
    `certkeeper identity renewal\n${agent}\n${time}\n${createHash('sha256').update(csr).digest('hex')}\n`,
  );
