import type { NotificationMessage } from './format.js';
import { postJson } from './http.js';
import type { SecretReader } from '../aws/secrets.js';
import { NotificationError, type NotificationTarget, severityMark } from './target.js';

export const TELEGRAM_API_URL = 'https://api.telegram.org';

export interface TelegramOptions {
  secrets: SecretReader;
  /** Secrets Manager ARN of the bot token (the plain "123456:ABC..." BotFather gives). */
  tokenSecretArn: string;
  /** A numeric chat id or "@channelname"; the bot must be a member. */
  chatId: string;
  /** The Bot API's base URL; tests point it at a local server. */
  apiUrl?: string;
  timeoutMs?: number;
}

// The Bot API refuses longer texts with 400; ours are short, this only guards the limit.
const MAX_TEXT = 4096;
const TOKEN_SHAPE = /^\d+:[A-Za-z0-9_-]+$/;

/**
 * Telegram Bot API sendMessage as plain text: no parse_mode, so nothing in an error detail
 * can break Markdown or HTML parsing and lose the alert. The token is part of the URL path,
 * so every error is redacted and shows the URL as .../bot<redacted>/sendMessage.
 */
export class TelegramTarget implements NotificationTarget {
  readonly name = 'telegram';

  constructor(private readonly options: TelegramOptions) {}

  async send(message: NotificationMessage): Promise<void> {
    const { tokenSecretArn: arn, chatId } = this.options;
    const token = await this.options.secrets.read(arn);
    // Also keeps a stray "/" or "?" in a mis-pasted secret from changing the request path.
    if (!TOKEN_SHAPE.test(token)) {
      throw new NotificationError('Telegram', `the secret ${arn} does not hold a bot token`, {
        retryable: false,
        fix: 'store the token BotFather gave (digits, a colon, then letters) as the plain secret value',
      });
    }
    const base = (this.options.apiUrl ?? TELEGRAM_API_URL).replace(/\/+$/, '');
    await postJson({
      target: 'Telegram',
      url: `${base}/bot${token}/sendMessage`,
      shownAs: `${base}/bot<redacted>/sendMessage`,
      secrets: [token],
      timeoutMs: this.options.timeoutMs,
      body: {
        chat_id: chatId,
        text: `${severityMark(message.severity)} ${message.subject}\n${message.text}`.slice(0, MAX_TEXT),
        disable_web_page_preview: true,
      },
      fix: (status) =>
        status === 401 || status === 404
          ? `the bot token in ${arn} is not valid (revoked or mistyped): store the current one`
          : status === 400 || status === 403
            ? `check CERTKEEPER_TELEGRAM_CHAT_ID (${chatId}): the chat must exist and the bot must be a member`
            : undefined,
    });
  }
}
