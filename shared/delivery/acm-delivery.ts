import { asCertkeeperError, CertkeeperError, NotFoundError, RetryLaterError } from '../model/errors.js';
import type { Log } from '../model/log.js';
import type { CertificateSpec } from '../model/spec.js';
import type { AcmDeliveryState, CertificateState } from '../model/state.js';
import type { Random } from '../model/random.js';
import { nextRetryAt } from '../renewal/backoff.js';
import type { CertificateStore } from '../store/store.js';
import { ACM_TAG_CERTIFICATE, ACM_TAG_SERIAL } from '../model/delivery.js';
import type { AcmImporter, AcmImportInput } from './acm.js';
import { acmImportsDueNow, pendingAcmRegions } from '../renewal/acm-plan.js';

export interface AcmDeliveryDeps {
  /** Absent where ACM cannot be reached (local mode): each import is then recorded as failed. */
  acm?: AcmImporter;
  store: CertificateStore;
  log: Log;
  random?: Random;
}

type Bundle = Pick<AcmImportInput, 'certificate' | 'chain' | 'privateKey'> & { keyType: string };

/**
 * Imports the current certificate into each declared ACM region that does not hold it yet,
 * and records the outcome per region in `state.acm`. Never throws and never touches the
 * current certificate: a failed import is recorded with its error and a backoff time
 * (which `dueAt` includes), and the issuer tries again then, without a second order.
 *
 * `fresh` (a certificate was just issued) tries every pending region at once, whatever the
 * previous serial's backoff said; otherwise only the regions whose retry time has come.
 * The bundle is read back from the store, so ACM gets exactly the files the manifest names.
 */
export async function deliverToAcm(
  deps: AcmDeliveryDeps,
  spec: CertificateSpec,
  state: CertificateState,
  now: Date,
  options: {
    fresh: boolean;
    /**
     * Runs before each import; a throw refuses it (recorded as that region's failure). A
     * renewal checks its lease here: a worker whose lease was taken over must not put its
     * (possibly older) certificate into ACM over a newer one.
     */
    fence?: () => Promise<void>;
  },
): Promise<CertificateState> {
  const regions = options.fresh ? pendingAcmRegions(spec, state, now) : acmImportsDueNow(spec, state, now);
  const current = state.current;
  if (regions.length === 0 || !current) return state;

  let bundle: Bundle | CertkeeperError;
  try {
    bundle = await readBundle(deps, spec.name, current.serial);
  } catch (err) {
    bundle = asCertkeeperError(err);
  }
  const tags = { [ACM_TAG_CERTIFICATE]: spec.name, [ACM_TAG_SERIAL]: current.serial };
  const at = now.toISOString();
  const outcomes = await Promise.all(
    regions.map(async (region): Promise<[string, AcmDeliveryState]> => {
      const previous = state.acm?.[region];
      try {
        if (bundle instanceof CertkeeperError) throw bundle;
        await options.fence?.();
        const { keyType, ...pem } = bundle;
        const arn = await importInto(
          deps,
          spec.name,
          region,
          { ...pem, tags },
          reimportArn(previous, keyType),
        );
        deps.log.info('imported into ACM', { certificate: spec.name, region, arn, serial: current.serial });
        if (previous?.arn && arn !== previous.arn) {
          deps.log.warn('imported into ACM as a new certificate: point listeners at the new ARN', {
            certificate: spec.name,
            region,
            arn,
            previousArn: previous.arn,
            reason:
              previous.keyType !== keyType
                ? `the key type changed from ${previous.keyType} to ${keyType}, which ACM cannot re-import into the same ARN`
                : 'the previous ACM certificate is gone',
          });
        }
        return [
          region,
          { arn, serial: current.serial, ...(keyType ? { keyType } : {}), importedAt: at, attemptedAt: at },
        ];
      } catch (err) {
        const error = asCertkeeperError(err);
        const failures = (previous?.failures ?? 0) + 1;
        let retryAt = nextRetryAt(failures, now, new Date(current.notAfter), deps.random ?? Math.random);
        // ACM's own "come back later" (throttling, the import quota) wins when it is later.
        if (error instanceof RetryLaterError && error.retryAt > retryAt) retryAt = error.retryAt;
        deps.log.warn('ACM import failed; the certificate in place is unaffected', {
          certificate: spec.name,
          region,
          serial: current.serial,
          error: error.describe(),
          retryAt: retryAt.toISOString(),
        });
        // What ACM holds is unchanged: keep its ARN and serial, add why and when again.
        const held = previous?.serial
          ? {
              serial: previous.serial,
              ...(previous.keyType ? { keyType: previous.keyType } : {}),
              ...(previous.importedAt ? { importedAt: previous.importedAt } : {}),
            }
          : {};
        return [
          region,
          {
            ...(previous?.arn ? { arn: previous.arn } : {}),
            ...held,
            error: error.describe(),
            attemptedAt: at,
            failures,
            retryAt: retryAt.toISOString(),
          },
        ];
      }
    }),
  );
  return { ...state, acm: { ...state.acm, ...Object.fromEntries(outcomes) } };
}

/**
 * The ARN to re-import into: the recorded one, unless the key type changed (a changed
 * `keyType` reissues the certificate), which ACM refuses into the same ARN ("the key type
 * and size cannot be changed"): then a new ACM certificate, and a warning to re-point.
 */
function reimportArn(previous: AcmDeliveryState | undefined, keyType: string): string | undefined {
  if (!previous?.arn) return undefined;
  return previous.keyType && previous.keyType !== keyType ? undefined : previous.arn;
}

/**
 * Re-imports into the recorded ARN so listeners (ALB, CloudFront) follow. If that
 * certificate was deleted in ACM, there is nothing to follow: import a new one.
 */
async function importInto(
  deps: AcmDeliveryDeps,
  name: string,
  region: string,
  input: Omit<AcmImportInput, 'certificateArn'>,
  arn: string | undefined,
): Promise<string> {
  const acm = deps.acm;
  if (!acm) {
    throw new CertkeeperError('internal', 'this runtime has no ACM importer (local mode)', {
      retryable: false,
      fix: 'ACM imports run in the deployed issuer; remove acmRegions for certificates managed locally',
    });
  }
  if (!arn) return acm.importCertificate(region, input);
  try {
    return await acm.importCertificate(region, { ...input, certificateArn: arn });
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    deps.log.info('the ACM certificate to re-import into is gone; importing a new one', {
      certificate: name,
      region,
      arn,
    });
    return acm.importCertificate(region, input);
  }
}

async function readBundle(deps: AcmDeliveryDeps, name: string, serial: string): Promise<Bundle> {
  const manifest = await deps.store.getManifest(name);
  if (manifest?.serial !== serial) {
    throw new CertkeeperError(
      'integrity',
      `the stored manifest of "${name}" names serial ${manifest?.serial ?? '(none)'}, the inventory ${serial}`,
      { retryable: true, fix: 'the next issuer pass re-reads both' },
    );
  }
  const [certificate, chain, privateKey] = await Promise.all([
    deps.store.readFile(manifest.files.cert.key),
    deps.store.readFile(manifest.files.chain.key),
    deps.store.readFile(manifest.files.privkey.key),
  ]);
  return { certificate, chain, privateKey, keyType: manifest.keyType };
}
