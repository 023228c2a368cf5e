import type { NotificationMessage } from './format.js';
import { originOnly, postJson } from './http.js';
import type { NotificationTarget } from './target.js';

export interface WebhookOptions {
  url: string;
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
    const { url } = this.options;
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
          ? `check CERTKEEPER_WEBHOOK_URL and what the receiver at ${new URL(url).host} accepts`
          : undefined,
    });
  }
}
