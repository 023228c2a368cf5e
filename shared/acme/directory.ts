import * as z from 'zod';
import { CertkeeperError, UnreachableError } from '../model/errors.js';
import type { AcmeDirectoryInfo } from './ca.js';
import type { AcmeTransport } from './transport.js';

/**
 * RFC 8555 §7.1.1 directory. CAs add keys at will (Let's Encrypt's `renewalInfo`, `meta.profiles`,
 * vendor extras), so every object is parsed loosely: unknown keys are ignored, only the
 * resources we call are required.
 */
const directorySchema = z.looseObject({
  newNonce: z.url(),
  newAccount: z.url(),
  newOrder: z.url(),
  revokeCert: z.url().optional(),
  keyChange: z.url().optional(),
  renewalInfo: z.url().optional(),
  meta: z
    .looseObject({
      termsOfService: z.string().optional(),
      website: z.string().optional(),
      caaIdentities: z.array(z.string()).optional(),
      externalAccountRequired: z.boolean().optional(),
      // draft-ietf-acme-profiles §3: name → human-readable description.
      profiles: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
});

export function parseDirectory(url: string, body: unknown): AcmeDirectoryInfo {
  const parsed = directorySchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CertkeeperError(
      'internal',
      `${url} is not an ACME directory (${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid'})`,
      {
        retryable: false,
        fix: 'check the directory URL; it must point at the JSON directory, e.g. https://acme-v02.api.letsencrypt.org/directory',
      },
    );
  }
  const d = parsed.data;
  const profiles: Record<string, string> = {};
  for (const [name, description] of Object.entries(d.meta?.profiles ?? {})) {
    profiles[name] = typeof description === 'string' ? description : '';
  }
  return {
    url,
    newNonce: d.newNonce,
    newAccount: d.newAccount,
    newOrder: d.newOrder,
    revokeCert: d.revokeCert,
    keyChange: d.keyChange,
    renewalInfo: d.renewalInfo,
    profiles,
    termsOfService: d.meta?.termsOfService,
    website: d.meta?.website,
    caaIdentities: d.meta?.caaIdentities ?? [],
    externalAccountRequired: d.meta?.externalAccountRequired ?? false,
  };
}

/** GETs and parses the directory; transport errors arrive already translated. */
export async function fetchDirectory(transport: AcmeTransport, url: string): Promise<AcmeDirectoryInfo> {
  const response = await transport.get(url);
  if (response.status !== 200) {
    throw new UnreachableError(
      `${url} answered HTTP ${response.status} instead of an ACME directory`,
      "check the directory URL (for Let's Encrypt: https://acme-v02.api.letsencrypt.org/directory)",
    );
  }
  const directory = parseDirectory(url, response.data);
  transport.shareDirectory(url, response.data);
  return directory;
}
