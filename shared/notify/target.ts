import { CertkeeperError } from '../model/errors.js';
import type { NotificationMessage, Severity } from './format.js';

/** Port: one place messages go (a chat, a webhook, a mailbox topic). */
export interface NotificationTarget {
  /** Short and stable, for logs and metrics: "telegram", "slack", "webhook", "email". */
  readonly name: string;
  send(message: NotificationMessage): Promise<void>;
}

/**
 * A target refused or never answered. Names the target and the HTTP status; never the
 * credential (bot token, webhook URL) that the request carried.
 */
export class NotificationError extends CertkeeperError {
  readonly target: string;
  /** The HTTP status of the refusal; undefined when there was no answer at all. */
  readonly status: number | undefined;

  constructor(
    target: string,
    message: string,
    details: { status?: number; retryable: boolean; fix?: string },
  ) {
    const code =
      details.status === undefined ? 'unreachable' : details.status === 429 ? 'retry-later' : 'internal';
    super(code, `${target}: ${message}`, { retryable: details.retryable, fix: details.fix });
    this.target = target;
    this.status = details.status;
  }
}

/** Seen before the subject in chats, so a critical alert stands out in a busy channel. */
const MARKS: Record<Severity, string> = { critical: '🔴', warning: '🟠', info: '🟢' };

export function severityMark(severity: Severity): string {
  return MARKS[severity];
}
