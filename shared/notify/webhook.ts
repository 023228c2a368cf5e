import type { SecretReader } from '../aws/secrets.js';
import type { NotificationMessage } from './format.js';
import { originOnly, postJson, webhookUrlFrom } from './http.js';
import type { NotificationTarget } from './target.js';

export interface WebhookOptions {
  secrets: SecretReader;
  /** Secrets Manager ARN of the URL: webhook URLs often carry a token in the path or query. */
  urlSecretArn: string;
  timeoutMs?: number;
}

/**
 * A generic JSON webhook for whatever an operator runs (PagerDuty bridge, ticketing, a
 * script): the formatted message plus the event or alarm it came from, so the receiver can
 * route on fields instead of parsing text. Body: { subject, text, severity, event }.
 */
export class WebhookTarget implements NotificationTarget {
  readonly name = 'webhook';

  constructor(private readonly options: WebhookOptions) {}

  async send(message: NotificationMessage): Promise<void> {
    const arn = this.options.urlSecretArn;
    const url = await webhookUrlFrom(this.options.secrets, arn, 'Webhook', 'https://...');
    await postJson({
      target: 'Webhook',
      url,
      // Webhook URLs often carry a token in the path or query; errors name the host only.
      shownAs: originOnly(url),
      secrets: [url],
      timeoutMs: this.options.timeoutMs,
      body: {
        subject: message.subject,
        text: message.text,
        severity: message.severity,
        event: message.event,
      },
      fix: (status) =>
        status < 500
          ? `check the URL in ${arn} and what the receiver at ${new URL(url).host} accepts`
          : undefined,
    });
  }
}
