import { MINUTE } from '../model/clock.js';
import type { WorkMessage } from '../queue/queue.js';
import { renewCertificate, type RenewDeps, type RenewOutcome } from './renew-certificate.js';

export interface RequestedOptions {
  /** How long a forced request waits for a pass that holds the lease. Default 2 minutes. */
  busyWaitMs?: number;
  /** Between two tries. Default 5 s. */
  pollMs?: number;
}

const DEFAULT_BUSY_WAIT_MS = 2 * MINUTE;
const DEFAULT_POLL_MS = 5000;

/**
 * One issuer queue message, renewed. A forced message counts as forced only with its
 * request id (renewal/forced.ts: honoured once, so a duplicate delivery or a replay does not
 * order again); without one it renews only when due. The scheduler's messages answered
 * `busy` are done (whoever holds the lease is renewing the certificate); an operator's
 * forced request waits for that pass instead (a short one: the pass may already have done
 * what was asked, which forced.ts then sees) and is answered `busy` only after `busyWaitMs`,
 * for the caller to have it delivered again rather than dropped.
 */
export async function renewRequested(
  deps: RenewDeps,
  message: WorkMessage,
  options: RequestedOptions = {},
): Promise<RenewOutcome> {
  const force = message.force && message.request !== undefined;
  if (message.force && !force) {
    deps.log.warn('forced message without a request id: renewed only when due', {
      certificate: message.certificate,
    });
  }
  const started = deps.clock.now().getTime();
  for (;;) {
    const outcome = await renewCertificate(deps, message.certificate, { force, request: message.request });
    if (outcome.status !== 'busy' || !force) return outcome;
    if (deps.clock.now().getTime() - started >= (options.busyWaitMs ?? DEFAULT_BUSY_WAIT_MS)) return outcome;
    await new Promise((done) => setTimeout(done, options.pollMs ?? DEFAULT_POLL_MS));
  }
}
