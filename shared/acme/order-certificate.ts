import type { ChallengeSolver } from '../challenges/solver.js';
import { asCertkeeperError, NotFoundError } from '../model/errors.js';
import { identifierValues } from '../model/identifiers.js';
import type { Log } from '../model/log.js';
import type { CertificateSpec } from '../model/spec.js';
import { createCsr, generateKey, keyTypeOf } from '../pki/index.js';
import type { PendingKeys } from '../store/pending-keys.js';
import type { AriOutcome, CertificateAuthority } from './ca.js';

/**
 * What the renewal asks of the CA, over the CertificateAuthority port: one certificate for
 * a spec with a fresh key, and the renewal information of the one in place.
 */
export interface OrderPlan {
  /** RFC 9773 certID of the certificate in place, sent as `replaces` when the CA has ARI. */
  predecessor?: string;
  /** The order of an interrupted attempt, to resume (RFC 8555 §7.4). */
  resumeOrderUrl?: string;
  /** Called once a new order exists, so its URL is recorded before anything else happens. */
  onOrder(orderUrl: string): Promise<void>;
  /** Where the order's key is kept, so a resumed order is finalized or downloaded with it. */
  pendingKeys: PendingKeys;
}

/** A certificate with a key generated for it here: the key never leaves this process unsaved. */
export async function orderCertificate(
  ca: CertificateAuthority,
  spec: CertificateSpec,
  solver: ChallengeSolver | undefined,
  plan: OrderPlan,
  log: Log,
): Promise<{ keyPem: string; fullchainPem: string }> {
  if (!solver) {
    throw new NotFoundError(
      `no ${spec.challenge} solver is configured`,
      'configure the challenge in the deployment',
    );
  }
  const { keyPem, kept } = await keyForOrder(spec, plan);
  const csrPem = await createCsr(spec.identifiers, keyPem);
  // RFC 9773 §5: name the predecessor so the CA can exempt the order from rate limits.
  const replaces = plan.predecessor && (await ca.directory()).renewalInfo ? plan.predecessor : undefined;
  log.info('ordering certificate', {
    certificate: spec.name,
    identifiers: identifierValues(spec.identifiers),
    replaces,
  });
  // The key is kept before the CA can bind an order to it (finalize), so an interrupted
  // attempt can still download and use the certificate. Already kept for this order (a
  // resumed one): nothing to write. The write starts as soon as the order exists and runs
  // beside its authorizations, off the critical path; finalize waits for it.
  const keep = async (orderUrl: string): Promise<boolean> => {
    if (kept && orderUrl === plan.resumeOrderUrl) return false;
    await plan.pendingKeys.put(spec.name, { orderUrl, keyPem });
    return true;
  };
  let keeping: { orderUrl: string; written: Promise<boolean> } | undefined;
  let finalizing = false;
  try {
    const issued = await ca.issue(
      {
        identifiers: spec.identifiers,
        profile: spec.profile,
        csrPem,
        replaces,
        resumeOrderUrl: plan.resumeOrderUrl,
        onOrder: async (orderUrl) => {
          keeping = { orderUrl, written: keep(orderUrl) };
          // Awaited before finalize, or below when the attempt never gets there.
          keeping.written.catch(() => undefined);
          await plan.onOrder(orderUrl);
        },
        beforeFinalize: async (orderUrl) => {
          finalizing = true;
          await (keeping?.orderUrl === orderUrl ? keeping.written : keep(orderUrl));
        },
      },
      solver,
    );
    return { keyPem, fullchainPem: issued.fullchainPem };
  } catch (err) {
    // Never left in flight (a late write could replace the key of this name's next order),
    // and taken back when the CA never saw it (only finalize binds an order to a key), so a
    // failed attempt leaves the store as it found it.
    const wrote = await keeping?.written.catch(() => false);
    if (wrote && !finalizing) {
      await plan.pendingKeys.delete(spec.name).catch((error: unknown) =>
        log.warn('the key kept for a failed order was not removed; the next order replaces it', {
          certificate: spec.name,
          error: error instanceof Error ? error.message : String(error),
        }),
      );
    }
    throw err;
  }
}

/**
 * The key the order is for. Resuming an order that was finalized before an interruption:
 * the key kept for that very order, so its certificate can still be downloaded and used
 * (RFC 8555 §7.4). Otherwise a fresh key; a key kept for another order is never reused.
 */
async function keyForOrder(
  spec: CertificateSpec,
  plan: OrderPlan,
): Promise<{ keyPem: string; kept: boolean }> {
  const pending = plan.resumeOrderUrl
    ? await plan.pendingKeys.get(spec.name).catch(() => undefined)
    : undefined;
  if (pending && pending.orderUrl === plan.resumeOrderUrl && keyTypeOf(pending.keyPem) === spec.keyType) {
    return { keyPem: pending.keyPem, kept: true };
  }
  return { keyPem: generateKey(spec.keyType), kept: false };
}

/**
 * RFC 9773 §4.2: the renewal information for `certId`. Never throws: a failed poll is an
 * outcome the state machine records and retries later, never in the way of a renewal.
 */
export async function pollRenewalInfo(
  ca: CertificateAuthority,
  certId: string,
  log: Log,
): Promise<AriOutcome> {
  try {
    if (!(await ca.directory()).renewalInfo) return { certId, error: 'the CA offers no renewal information' };
    return { certId, info: await ca.getRenewalInfo(certId) };
  } catch (err) {
    const error = asCertkeeperError(err).message;
    log.warn('ARI poll failed', { certId, error });
    return { certId, error };
  }
}
