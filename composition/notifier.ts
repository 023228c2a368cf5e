import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { type Clock, systemClock } from '../shared/model/clock.js';
import type { Log } from '../shared/model/log.js';
import { type NotifierConfig, parseNotifierEnv } from '../shared/notify/config.js';
import { SnsEmailTarget } from '../shared/notify/email.js';
import type { NotifyDeps } from '../shared/notify/notify.js';
import { CachedSecretReader, SecretsManagerReader } from '../shared/aws/secrets.js';
import { SlackTarget } from '../shared/notify/slack.js';
import type { NotificationTarget } from '../shared/notify/target.js';
import { TelegramTarget } from '../shared/notify/telegram.js';
import { WebhookTarget } from '../shared/notify/webhook.js';

/**
 * The notifier's composition, apart from aws.ts: the notifier needs no bucket, table or CA,
 * and must start even where those are not configured. Built once per cold start
 * (functions/notifier-runtime.ts), so secrets are read once per container
 * (CachedSecretReader).
 */
export interface NotifierRuntime extends NotifyDeps {
  config: NotifierConfig;
  metrics: Metrics;
}

/** What tests may replace: the clock the messages count time left from, and the log. */
export interface NotifierOverrides {
  clock?: Clock;
  log?: Log;
}

export function buildNotifierRuntime(
  environment: NodeJS.ProcessEnv,
  options: NotifierOverrides = {},
): NotifierRuntime {
  const config = parseNotifierEnv(environment);
  const { region } = config;
  const logger = new Logger({ serviceName: 'certkeeper-notifier' });
  const log: Log = options.log ?? {
    debug: (message, extra = {}) => logger.debug(message, extra),
    info: (message, extra = {}) => logger.info(message, extra),
    warn: (message, extra = {}) => logger.warn(message, extra),
    error: (message, extra = {}) => logger.error(message, extra),
  };
  const clock = options.clock ?? systemClock;

  const secrets = new CachedSecretReader(new SecretsManagerReader(new SecretsManagerClient({ region })));
  const targets: NotificationTarget[] = [];
  if (config.telegram) targets.push(new TelegramTarget({ secrets, ...config.telegram }));
  if (config.slack) targets.push(new SlackTarget({ secrets, ...config.slack }));
  if (config.webhook) targets.push(new WebhookTarget({ secrets, ...config.webhook }));
  if (config.email) targets.push(new SnsEmailTarget(new SNSClient({ region }), { ...config.email, clock }));

  return {
    config,
    targets,
    types: config.types,
    clock,
    log,
    metrics: new Metrics({ namespace: 'certkeeper', serviceName: 'certkeeper-notifier' }),
  };
}
