/**
 * DIR/settings/<name>.json: how a certificate was issued (CA, contact, challenge, hooks), so
 * `renew --out DIR` needs no flags (as lego keeps its account dir). Written by `issue`, read
 * by `renew`, deleted by `remove --out`.
 */
import { join } from 'node:path';
import * as z from 'zod';
import type { LocalDir } from '../../composition/local.js';
import { parseStoredJson } from '../../shared/lock/stored.js';
import type { ChallengeType } from '../../shared/model/spec.js';

export const localSettings = z.object({
  version: z.literal(1),
  directory: z.url(),
  /** CAs to fall back to, in order (--fallback-directory-url). */
  fallbackDirectories: z.array(z.url()).optional(),
  email: z.string().optional(),
  /** Absolute path of the PEM trusted for the CA's HTTPS (a private CA such as Pebble). */
  caFile: z.string().optional(),
  /** host:port of the HTTP-01 responder, for http-01 certificates. */
  http01Listen: z.string().optional(),
  /** Seconds to wait for a taken http01Listen port (shared with a web server's restarts, or tests). */
  http01ListenRetry: z.number().nonnegative().optional(),
  /** Absolute path of a web server's document root: HTTP-01 tokens are written under it instead. */
  http01Webroot: z.string().optional(),
  /** host:port of the TLS-ALPN-01 responder (acme-tls/1), for tls-alpn-01 certificates. */
  tlsAlpn01Listen: z.string().optional(),
  dns: z.literal('route53').optional(),
  /** `issue --pre-hook` / `--post-hook`, which `renew --out` runs around this certificate's orders (hooks.ts). */
  preHook: z.string().optional(),
  postHook: z.string().optional(),
});
export type LocalSettings = z.infer<typeof localSettings>;

/** The challenge type the settings answer (one of them is set: issue checks it). */
export function challengeOf(settings: LocalSettings): ChallengeType {
  return settings.dns ? 'dns-01' : settings.tlsAlpn01Listen !== undefined ? 'tls-alpn-01' : 'http-01';
}

export const settingsKey = (name: string): string => `settings/${name}.json`;

export async function readSettings(dir: LocalDir, name: string): Promise<LocalSettings | undefined> {
  const text = await dir.objects.get(settingsKey(name));
  if (text === undefined) return undefined;
  const where = join(dir.root, settingsKey(name));
  return parseStoredJson(localSettings, text, {
    where,
    fix: `run certkeeper issue again for ${name}, or pass --directory-url to renew`,
  });
}

export async function writeSettings(dir: LocalDir, name: string, settings: LocalSettings): Promise<void> {
  await dir.objects.put(settingsKey(name), `${JSON.stringify(settings, null, 2)}\n`);
}
