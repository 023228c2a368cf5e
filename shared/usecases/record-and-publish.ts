import type { CertificateEvent } from '../model/event.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Inventory } from '../inventory/inventory.js';
import type { HeldLease } from '../lock/keeper.js';
import type { Log } from '../model/log.js';
import { asCertkeeperError } from '../model/errors.js';
import type { CertificateState } from '../model/state.js';
import * as machine from '../renewal/transition.js';

/**
 * State first, then events (a subscriber never hears of a state not recorded; see
 * docs/architecture.md, "One renewal", step 5), and the events recorded with the state (the
 * outbox), so none is lost to a failed publish or a crash in between: they are published,
 * then cleared with a write that only checks this lease wrote last; what could not be sent
 * stays, due again soon. Delivery is at least once: a crash after a publish and before the
 * clearing write sends that event again. `afterWrite` runs once the state is written,
 * before anything is published.
 */
export async function recordAndPublish(
  deps: { inventory: Inventory; events: EventPublisher; log: Log },
  ctx: machine.Context,
  held: HeldLease,
  before: CertificateState,
  after: CertificateState,
  events: CertificateEvent[],
  afterWrite?: () => Promise<void>,
): Promise<void> {
  const name = ctx.spec.name;
  const settled = machine.withOutbox(after, []);
  if (events.length === 0) {
    const unchanged =
      JSON.stringify({ ...settled, updatedAt: '' }) === JSON.stringify({ ...before, updatedAt: '' });
    if (unchanged) return;
    await deps.inventory.putState(name, settled, held.lease);
    await afterWrite?.();
    return;
  }
  await deps.inventory.putState(name, machine.withOutbox(settled, events), held.lease);
  await afterWrite?.();
  const unsent: CertificateEvent[] = [];
  for (const event of events) {
    try {
      await deps.events.publish(event);
    } catch (err) {
      const error = asCertkeeperError(err);
      // One that can never be sent (it carried key material) is dropped, loudly.
      if (error.retryable) unsent.push(event);
      deps.log.error(error.retryable ? 'event not published; kept in the outbox' : 'event refused; dropped', {
        certificate: name,
        event: event.type,
        error: error.message,
      });
    }
  }
  if (unsent.length > 0) {
    await deps.inventory.putState(name, machine.afterPublishFailed(ctx, settled, unsent), held.lease);
  } else {
    await deps.inventory.putState(name, settled, held.lease, { followsOwnWrite: true });
  }
}
