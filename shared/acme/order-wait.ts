import { setTimeout as delay } from 'node:timers/promises';
import type { Authorization, Client, Order } from 'acme-client';
import { type Clock, MINUTE } from '../model/clock.js';
import { RetryLaterError } from '../model/errors.js';
import { authorizationProblem, orderProblem } from './order-answers.js';
import { PollSchedule, type PollingOptions } from './poll.js';
import type { AcmeTransport } from './transport.js';

export interface WaitOptions {
  /** Look once at once: the object is probably settled already (counts against the bound). */
  immediate?: boolean;
  /** The Retry-After the answer that started the wait carried. */
  retryAfterMs?: number;
  polling: PollingOptions;
  clock: Clock;
  /** Where the Retry-After of each answer is kept. */
  transport: AcmeTransport;
}

/**
 * Polls an order or authorization (POST-as-GET, RFC 8555 §6.3) until it is ready or valid,
 * on the PollSchedule: first re-check soon, gaps doubling, the CA's Retry-After honoured.
 * An invalid object is reported with the CA's own problem (for an authorization the
 * challenge error, e.g. urn:ietf:params:acme:error:connection). One still pending when
 * the schedule ends stays resumable: RetryLaterError at the CA's Retry-After or in a minute.
 */
export async function waitSettled<T extends Order | Authorization>(
  client: Client,
  item: T,
  kind: 'order' | 'authorization',
  options: WaitOptions,
): Promise<T> {
  const url = item.url;
  const check = async (): Promise<T> => {
    const fresh =
      kind === 'order'
        ? await client.getOrder(item as Order)
        : (await client.getAuthorizations({ authorizations: [url] } as Order))[0]!;
    return { ...(fresh as T), url };
  };
  const settled = async (current: T): Promise<boolean> => {
    if (current.status === 'valid' || current.status === 'ready') return true;
    if (current.status === 'pending' || current.status === 'processing') return false;
    // invalid, or (authorizations) deactivated, expired, revoked: RFC 8555 §7.1.6.
    throw kind === 'order'
      ? await orderProblem(client, current as Order)
      : authorizationProblem(current as Authorization);
  };

  // A check made at once counts against the bound, so a CA that never settles costs no
  // more checks either way.
  const attempts = options.immediate ? Math.max(1, options.polling.attempts - 1) : options.polling.attempts;
  const schedule = new PollSchedule({ ...options.polling, attempts });
  let current = item;
  let retryAfterMs = options.retryAfterMs ?? options.transport.retryAfterOf(item);
  if (options.immediate) {
    current = await check();
    if (await settled(current)) return current;
    retryAfterMs = options.transport.retryAfterOf(current);
  }
  for (;;) {
    const step = schedule.next(retryAfterMs);
    if ('stop' in step) {
      // Still pending or processing: the order stays resumable, so come back soon.
      const waitMs = step.retryAfterMs ?? MINUTE;
      throw new RetryLaterError(
        `the ${kind} ${url} is still ${current.status} after ${schedule.planned} checks over ${Math.round(schedule.plannedMs / 1000)} s`,
        new Date(options.clock.now().getTime() + waitMs),
        undefined,
        undefined,
        step.retryAfterMs,
      );
    }
    await delay(step.wait);
    current = await check();
    if (await settled(current)) return current;
    retryAfterMs = options.transport.retryAfterOf(current);
  }
}
