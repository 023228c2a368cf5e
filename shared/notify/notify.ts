import type { Clock } from '../model/clock.js';
import { asCertkeeperError, type CertkeeperError } from '../model/errors.js';
import type { EventType } from '../model/event.js';
import type { Log } from '../model/log.js';
import { formatNotification, type NotificationMessage } from './format.js';
import { parseNotification } from '../events/notification.js';
import type { NotificationTarget } from './target.js';

export interface NotifyDeps {
  targets: readonly NotificationTarget[];
  /** Certificate event types to forward; others are ignored (alarms always go out). */
  types: readonly EventType[];
  clock: Clock;
  log: Log;
}

export type NotifyOutcome =
  /** A certificate event of a type nobody asked for. */
  | { status: 'ignored'; type: EventType; certificate: string }
  /** Malformed, or refused for carrying key material: the same message would fail again. */
  | { status: 'rejected'; error: CertkeeperError }
  /** At least one target accepted it; `failed` lists the ones that did not. */
  | { status: 'delivered'; subject: string; delivered: string[]; failed: string[] }
  /** Every target failed: worth another try. */
  | { status: 'undelivered'; subject: string; failed: string[] };

/** One SNS message body: parse, filter by type, format for people, send to every target at once. */
export async function notify(deps: NotifyDeps, body: string): Promise<NotifyOutcome> {
  let message: NotificationMessage;
  try {
    const notification = parseNotification(body);
    if (notification.kind === 'certificate' && !deps.types.includes(notification.event.type)) {
      const { type, certificate } = notification.event;
      return { status: 'ignored', type, certificate };
    }
    message = formatNotification(notification, deps.clock.now());
  } catch (err) {
    return { status: 'rejected', error: asCertkeeperError(err) };
  }
  const { delivered, failed } = await deliver(deps, message);
  return delivered.length > 0
    ? { status: 'delivered', subject: message.subject, delivered, failed }
    : { status: 'undelivered', subject: message.subject, failed };
}

/**
 * Sends to every target concurrently: a chat API that is down or slow must not hold back
 * the others. Each failure is logged with its target and fix.
 */
export async function deliver(
  deps: Pick<NotifyDeps, 'targets' | 'log'>,
  message: NotificationMessage,
): Promise<{ delivered: string[]; failed: string[] }> {
  const results = await Promise.allSettled(deps.targets.map((target) => target.send(message)));
  const delivered: string[] = [];
  const failed: string[] = [];
  results.forEach((result, i) => {
    const target = deps.targets[i]!.name;
    if (result.status === 'fulfilled') {
      delivered.push(target);
      return;
    }
    failed.push(target);
    const error = asCertkeeperError(result.reason);
    deps.log.warn('notification target failed', {
      target,
      subject: message.subject,
      error: error.describe(),
      retryable: error.retryable,
    });
  });
  return { delivered, failed };
}
