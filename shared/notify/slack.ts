import type { NotificationMessage } from './format.js';
import { originOnly, postJson, webhookUrlFrom } from './http.js';
import type { SecretReader } from '../aws/secrets.js';
import { type NotificationTarget, severityMark } from './target.js';

export interface SlackOptions {
  secrets: SecretReader;
  /** Secrets Manager ARN of the incoming-webhook URL: whoever has the URL can post. */
  webhookSecretArn: string;
  timeoutMs?: number;
}

/**
 * Slack incoming webhook: one mrkdwn `text` (the subject in bold), which every Slack client
 * shows, including notifications, where blocks fall back to `text` anyway.
 */
export class SlackTarget implements NotificationTarget {
  readonly name = 'slack';

  constructor(private readonly options: SlackOptions) {}

  async send(message: NotificationMessage): Promise<void> {
    const arn = this.options.webhookSecretArn;
    const url = await webhookUrlFrom(
      this.options.secrets,
      arn,
      'Slack webhook',
      'https://hooks.slack.com/services/...',
    );
    await postJson({
      target: 'Slack webhook',
      url,
      shownAs: originOnly(url),
      secrets: [url],
      timeoutMs: this.options.timeoutMs,
      body: {
        text: `${severityMark(message.severity)} *${escape(message.subject)}*\n${escape(message.text)}`,
      },
      fix: (status) =>
        status === 403 || status === 404 || status === 410
          ? `the webhook in ${arn} was removed or disabled, or its channel archived: create a new incoming webhook and store its URL there`
          : undefined,
    });
  }
}

/** Slack reads <...> as links and mentions; these three are the escapes it defines. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
