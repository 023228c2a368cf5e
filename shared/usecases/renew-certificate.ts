import type { AcmImporter } from '../delivery/acm.js';
import { deliverToAcm } from '../delivery/acm-delivery.js';
import type { EventPublisher } from '../events/publisher.js';
import { type HeldLease, withLease } from '../lock/keeper.js';
import type { LeaseLock } from '../lock/lock.js';
import { MINUTE } from '../model/clock.js';
import { NotFoundError } from '../model/errors.js';
import type { Random } from '../model/random.js';
import type { CertificateSpec } from '../model/spec.js';
import type { CertificateState, InventoryRecord } from '../model/state.js';
import { type ForceRequest, forceDecision, rememberForce } from '../renewal/forced.js';
import { ariPollDue, renewalDue } from '../renewal/policy.js';
import { stateForLatestSpec } from '../renewal/spec-change.js';
import * as machine from '../renewal/transition.js';
import { recordAndPublish } from './record-and-publish.js';
import { type AttemptDeps, type AttemptOutcome, attemptAtCas, pollAri } from './renewal-attempt.js';

export interface RenewDeps extends AttemptDeps {
  events: EventPublisher;
  /** The bucket named in events, so subscribers can fetch the manifest (absent locally). */
  bucket?: string;
  lock: LeaseLock;
  /** How long a lease lasts before another worker may take over; renewed while working. */
  leaseTtlMs?: number;
  /** Source of jitter and ARI window picks; tests pass a fixed one. */
  random?: Random;
  /** Imports into the ACM regions a certificate declares (absent in local mode). */
  acm?: AcmImporter;
}

export interface RenewOptions {
  /** Renew even when the policy says it is not due (operator request). */
  force?: boolean;
  /**
   * With `force`, the operator's request it comes from (a queued message): honoured once
   * (renewal/forced.ts). Without it, `force` is taken as given (local mode runs it at once).
   */
  request?: ForceRequest;
}

export type RenewOutcome = (
  | AttemptOutcome
  | { status: 'busy'; name: string }
  /** Nothing to renew; an ARI poll or an expiry warning may have happened. */
  | { status: 'not-due'; name: string; dueAt: string | undefined }
) & {
  /** This pass asked the CA for renewal information (for the AriPolls metric). */
  ariPolled?: boolean;
};

const DEFAULT_LEASE_TTL = 5 * MINUTE;

const notDeclared = (name: string): NotFoundError =>
  new NotFoundError(
    `certificate "${name}" is not in the inventory`,
    'declare it first (certkeeper add, or the certificates list of certkeeper.config.json)',
  );

/**
 * One pass over a certificate (docs/architecture.md, "One renewal"). This module only
 * sequences I/O: lock, read, poll ARI if due, order if due, store, deliver, write the
 * state, publish, release. Every next state and event comes from the state machine in
 * renewal/transition.ts. A failure at any step leaves the previous certificate served (the
 * manifest is replaced only after the new files are stored and verified) and the state
 * retryable at a time the policy chose.
 */
export async function renewCertificate(
  deps: RenewDeps,
  name: string,
  options: RenewOptions = {},
): Promise<RenewOutcome> {
  const ttl = deps.leaseTtlMs ?? DEFAULT_LEASE_TTL;
  const outcome = await withLease(deps.lock, name, ttl, deps.log, async (held) => {
    // The first read is the claim, after locking: another worker may have finished this
    // renewal meanwhile, and the claim marks the item as this lease's first, so a late holder
    // cannot write behind it. No read before locking: every message names a declared
    // certificate but a stray one, whose lock item (kept for its fence counter) DynamoDB's
    // TTL removes a week later; one read fewer on every renewal pays for that.
    const record = await deps.inventory.claim(name, held.lease);
    if (!record) throw notDeclared(name);
    const ctx = context(deps, record.spec);
    const force = honouredForce(deps, ctx, record.state, options);
    const pass = await tend(deps, ctx, record, held, { force });
    // An operator may have changed the spec while we worked (declaring is not fenced).
    const latest = await deps.inventory.get(name);
    let state = latest ? stateForLatestSpec(pass.state, record.spec, latest.spec, ctx.now) : pass.state;
    if (force && options.request) state = rememberForce(state, options.request);
    const issued = pass.outcome.status === 'issued' || pass.outcome.status === 'renewed';
    await recordAndPublish(
      deps,
      ctx,
      held,
      record.state,
      state,
      [...(record.state.outbox ?? []), ...pass.events],
      // The order's key was kept for a crash before this write (resume); once the state
      // names the new certificate it is only a second copy of its privkey.pem.
      issued ? () => forgetOrderKey(deps, name) : undefined,
    );
    return { ...pass.outcome, ariPolled: state.ari?.lastPolledAt !== record.state.ari?.lastPolledAt };
  });
  return outcome ?? { status: 'busy', name };
}

type Pass = machine.Transition & { outcome: RenewOutcome };

/** Never fails the pass: the certificate is recorded; a key left behind is replaced by the next order's. */
async function forgetOrderKey(deps: RenewDeps, name: string): Promise<void> {
  await deps.pendingKeys.delete(name).catch((err: unknown) =>
    deps.log.warn('the key kept for the finished order was not removed; the next order replaces it', {
      certificate: name,
      error: err instanceof Error ? err.message : String(err),
    }),
  );
}

/** `force` as given, or for a request with an id as renewal/forced.ts decides (logged when not). */
function honouredForce(
  deps: RenewDeps,
  ctx: machine.Context,
  state: CertificateState,
  options: RenewOptions,
): boolean {
  if (!options.force || !options.request) return Boolean(options.force);
  const decision = forceDecision(state, options.request, ctx.now);
  if (!decision.force) {
    deps.log.warn('forced renewal request not forced', {
      certificate: ctx.spec.name,
      requestId: options.request.id,
      reason: decision.ignored,
    });
  }
  return decision.force;
}

const context = (deps: RenewDeps, spec: CertificateSpec): machine.Context => ({
  spec,
  now: deps.clock.now(),
  bucket: deps.bucket,
  random: deps.random ?? Math.random,
});

async function tend(
  deps: RenewDeps,
  ctx: machine.Context,
  record: InventoryRecord,
  held: HeldLease,
  options: RenewOptions,
): Promise<Pass> {
  let state = record.state;
  // A poll may move the renewal time into the past, so it comes first.
  if (!options.force && ariPollDue(state, ctx.now)) state = await pollAri(deps, ctx, state);

  const attempted =
    options.force || renewalDue(ctx.spec, state, ctx.now)
      ? await attemptAtCas(deps, ctx, state, held)
      : undefined;
  // ACM regions without the current serial (delivery/acm-delivery.ts): recorded per region,
  // never a failure of this pass; a failed import makes the certificate due again.
  const fresh = attempted?.outcome.status === 'issued' || attempted?.outcome.status === 'renewed';
  const delivered = await deliverToAcm(deps, ctx.spec, attempted?.state ?? state, ctx.now, {
    fresh,
    fence: () => held.confirm('importing into ACM'),
  });
  const settled = machine.settle(ctx, delivered);
  return {
    state: settled.state,
    events: [...(attempted?.events ?? []), ...settled.events],
    outcome: attempted?.outcome ?? { status: 'not-due', name: ctx.spec.name, dueAt: settled.state.dueAt },
  };
}
