import { parseListen } from '../../shared/challenges/listen.js';

/** `--http01-listen` / `--tls-alpn01-listen` HOST:PORT, or a usage error naming the flag. */
export function checkListen(text: string, flag = '--http01-listen'): { host: string; port: number } {
  return parseListen(text, flag);
}

/**
 * When an HTTP-01 validation failed because the CA could not fetch the token, and the
 * responder listens on another port than the one the CA fetched from (80 for a real CA,
 * RFC 8555 §8.3; whatever port a test CA is configured with), the Fix names both ports.
 * The port comes from the challenge URL the CA reports in its problem detail.
 */
export function http01PortFix(errorText: string, http01Listen: string | undefined): string | undefined {
  if (!http01Listen) return undefined;
  const url = /https?:\/\/(\[[^\]]+\]|[^/:\s"]+)(?::(\d+))?\/\.well-known\/acme-challenge\//.exec(errorText);
  if (!url) return undefined;
  const caPort = Number(url[2] ?? 80);
  let listen: { host: string; port: number };
  try {
    listen = parseListen(http01Listen, '--http01-listen');
  } catch {
    return undefined;
  }
  if (listen.port === caPort) return undefined;
  return `the CA fetches the token from port ${caPort}, but --http01-listen ${http01Listen} answers on port ${listen.port}: pass --http01-listen 0.0.0.0:${caPort}, or forward port ${caPort} to ${listen.port}`;
}
