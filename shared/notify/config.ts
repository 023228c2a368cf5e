import * as z from 'zod';
import { ValidationError } from '../model/errors.js';
import { EVENT_TYPES, type EventType } from '../model/event.js';
import { zodToValidationError } from '../model/json.js';

/**
 * The notifier's environment, set by the stack. Each target is on when its variables are
 * set; secrets are referenced by ARN and read at run time, never placed in the environment.
 */
export const DEFAULT_NOTIFY_TYPES: readonly EventType[] = [
  'certificate.renewal_failed',
  'certificate.expiring',
  'certificate.revoked',
  'certificate.deployment_lagging',
  'certificate.deployment_recovered',
];

// The stack writes "" for a target it leaves off; that means unset, as if absent.
const optional = z
  .string()
  .optional()
  .transform((v) => (v?.trim() ? v.trim() : undefined));
const arn = optional.refine((v) => v === undefined || v.startsWith('arn:'), 'is not an ARN (arn:aws:...)');
const httpUrl = optional.refine(
  (v) => v === undefined || (/^https?:\/\//.test(v) && URL.canParse(v)),
  'is not an http(s) URL',
);

export const notifierEnv = z.object({
  CERTKEEPER_TELEGRAM_TOKEN_SECRET_ARN: arn,
  CERTKEEPER_TELEGRAM_CHAT_ID: optional,
  CERTKEEPER_TELEGRAM_API_URL: httpUrl,
  CERTKEEPER_SLACK_WEBHOOK_SECRET_ARN: arn,
  CERTKEEPER_WEBHOOK_URL_SECRET_ARN: arn,
  CERTKEEPER_NOTIFICATIONS_TOPIC_ARN: arn,
  CERTKEEPER_NOTIFY_TYPES: optional,
  AWS_REGION: z.string().default('us-east-1'),
});

export interface NotifierConfig {
  telegram?: { tokenSecretArn: string; chatId: string; apiUrl?: string };
  slack?: { webhookSecretArn: string };
  webhook?: { urlSecretArn: string };
  email?: { topicArn: string };
  /** Certificate event types forwarded; alarms always are (the stack chooses which alarms). */
  types: readonly EventType[];
  region: string;
}

const TARGET_VARIABLES =
  'CERTKEEPER_TELEGRAM_TOKEN_SECRET_ARN (+ CERTKEEPER_TELEGRAM_CHAT_ID), CERTKEEPER_SLACK_WEBHOOK_SECRET_ARN, CERTKEEPER_WEBHOOK_URL_SECRET_ARN or CERTKEEPER_NOTIFICATIONS_TOPIC_ARN';

/** Errors name the variable: `environment.CERTKEEPER_TELEGRAM_API_URL: is not an http(s) URL`. */
export function parseNotifierEnv(environment: NodeJS.ProcessEnv): NotifierConfig {
  const parsed = notifierEnv.safeParse(environment);
  if (!parsed.success) throw zodToValidationError(parsed.error, 'environment');
  const env = parsed.data;

  const token = env.CERTKEEPER_TELEGRAM_TOKEN_SECRET_ARN;
  const chatId = env.CERTKEEPER_TELEGRAM_CHAT_ID;
  if ((token === undefined) !== (chatId === undefined)) {
    const [missing, set] = token
      ? ['CERTKEEPER_TELEGRAM_CHAT_ID', 'CERTKEEPER_TELEGRAM_TOKEN_SECRET_ARN']
      : ['CERTKEEPER_TELEGRAM_TOKEN_SECRET_ARN', 'CERTKEEPER_TELEGRAM_CHAT_ID'];
    throw new ValidationError(
      `environment.${missing}`,
      `is not set, but ${set} is`,
      'Telegram needs both the bot token secret and the chat id; set both, or neither',
    );
  }
  const config: NotifierConfig = {
    telegram:
      token && chatId
        ? { tokenSecretArn: token, chatId, apiUrl: env.CERTKEEPER_TELEGRAM_API_URL }
        : undefined,
    slack: env.CERTKEEPER_SLACK_WEBHOOK_SECRET_ARN
      ? { webhookSecretArn: env.CERTKEEPER_SLACK_WEBHOOK_SECRET_ARN }
      : undefined,
    webhook: env.CERTKEEPER_WEBHOOK_URL_SECRET_ARN
      ? { urlSecretArn: env.CERTKEEPER_WEBHOOK_URL_SECRET_ARN }
      : undefined,
    email: env.CERTKEEPER_NOTIFICATIONS_TOPIC_ARN
      ? { topicArn: env.CERTKEEPER_NOTIFICATIONS_TOPIC_ARN }
      : undefined,
    types: parseTypes(env.CERTKEEPER_NOTIFY_TYPES),
    region: env.AWS_REGION,
  };
  // A notifier with nowhere to send would drop every alert in silence; fail every invocation instead.
  if (!config.telegram && !config.slack && !config.webhook && !config.email) {
    throw new ValidationError(
      'environment',
      'no notification target is configured',
      `set ${TARGET_VARIABLES}`,
    );
  }
  return config;
}

function parseTypes(value: string | undefined): readonly EventType[] {
  if (value === undefined) return DEFAULT_NOTIFY_TYPES;
  return value
    .split(',')
    .map((type) => type.trim())
    .filter((type) => type !== '')
    .map((type) => {
      if (!(EVENT_TYPES as readonly string[]).includes(type)) {
        throw new ValidationError(
          'environment.CERTKEEPER_NOTIFY_TYPES',
          `"${type}" is not an event type`,
          `use a comma-separated list of: ${EVENT_TYPES.join(', ')}`,
        );
      }
      return type as EventType;
    });
}
