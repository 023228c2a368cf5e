import type { SecretReader } from '../aws/secrets.js';
import { NotificationError } from './target.js';

/** Long enough for a slow chat API, short enough that every target is tried within a Lambda run. */
export const DEFAULT_TIMEOUT_MS = 10_000;

export interface JsonPost {
  /** The target as people know it, at the start of every error: "Telegram", "Slack webhook". */
  target: string;
  url: string;
  /** The URL as errors show it: without the credential it carries. */
  shownAs: string;
  body: unknown;
  /** Values that must never appear in an error (bot token, webhook URL), whatever echoes them. */
  secrets: readonly string[];
  timeoutMs?: number;
  /** What the operator should do about a refusal with this HTTP status, if anything. */
  fix?: (status: number) => string | undefined;
}

/**
 * The URL a secret holds (a Slack or generic webhook's), checked before anything is sent:
 * a secret holding anything else is the operator's to fix, and is never echoed.
 */
export async function webhookUrlFrom(
  secrets: SecretReader,
  arn: string,
  target: string,
  example: string,
): Promise<string> {
  const url = await secrets.read(arn);
  if (!/^https?:\/\//.test(url) || !URL.canParse(url)) {
    throw new NotificationError(target, `the secret ${arn} does not hold a webhook URL`, {
      retryable: false,
      fix: `store the webhook URL (${example}) as the plain secret value`,
    });
  }
  return url;
}

// Worth trying again later without anyone changing anything: timeouts, rate limits, outages.
const RETRYABLE_STATUS = new Set([408, 425, 429]);
const MAX_REPLY = 200;

/**
 * POSTs a JSON body and resolves on any 2xx. Anything else becomes a NotificationError that
 * names the target and the status, with the start of the reply (chat APIs say why there,
 * e.g. "Bad Request: chat not found") and every secret replaced by <redacted>. The original
 * error is not attached as the cause: some carry the full URL.
 */
export async function postJson(post: JsonPost): Promise<void> {
  const redact = (text: string) =>
    post.secrets.reduce((out, secret) => (secret ? out.split(secret).join('<redacted>') : out), text);
  const timeoutMs = post.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let response: Response;
  try {
    response = await fetch(post.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(post.body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new NotificationError(
      post.target,
      redact(`POST ${post.shownAs} failed: ${noAnswer(err, timeoutMs)}`),
      {
        retryable: true,
        fix: `check that ${new URL(post.url).host} is reachable from the notifier (in a VPC: a NAT gateway or proxy)`,
      },
    );
  }
  // Read the reply in full either way: an unread body keeps the connection busy.
  const reply = await response.text().catch(() => '');
  if (response.ok) return;
  const status = response.status;
  const said = reply.replace(/\s+/g, ' ').trim().slice(0, MAX_REPLY);
  throw new NotificationError(
    post.target,
    redact(`POST ${post.shownAs} answered HTTP ${status}${said ? `: ${said}` : ''}`),
    { status, retryable: status >= 500 || RETRYABLE_STATUS.has(status), fix: post.fix?.(status) },
  );
}

/** "https://hooks.slack.com/…": enough to tell which service, without the path that is the credential. */
export function originOnly(url: string): string {
  return `${new URL(url).origin}/…`;
}

function noAnswer(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  // fetch reports "fetch failed" and keeps the reason (ECONNREFUSED, ENOTFOUND...) in `cause`.
  const cause =
    err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
