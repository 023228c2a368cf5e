/**
 * `certkeeper renew --out DIR`: every certificate in DIR's inventory through renewCertificate,
 * the Lambdas' own sequence and policy (ARI window, else 2/3 or 1/2 of the lifetime, backoff
 * after failures). It renews only what is due, so cron can run it daily, as with `lego renew`.
 *
 * ARI in local mode: the renewal information is asked for on every run, not only once the
 * last answer's Retry-After is up. The issuer polls on its schedule because it runs every
 * few minutes; a local run happens about once a day, so one GET per certificate per run is
 * well within what the CA expects, and a window the CA moved earlier (a revocation, an
 * incident) is acted on by the next cron run rather than up to a Retry-After later.
 */
import { amendState } from '../../shared/inventory/inventory.js';
import { asCertkeeperError, ValidationError } from '../../shared/model/errors.js';
import type { InventoryRecord } from '../../shared/model/state.js';
import { renewCertificate, type RenewOutcome } from '../../shared/usecases/renew-certificate.js';
import type { BundleFile } from '../../shared/store/layout.js';
import { createOutput, EXIT, relativeTime } from '../output.js';
import { caDirectoryUrl } from '../directory-url.js';
import { readCaFile } from './ca-trust.js';
import { http01PortFix } from './listen-flags.js';
import { updateLiveLinks } from './live.js';
import { reporterFor, sayError } from './reporter.js';
import { type LocalSettings, readSettings } from './settings.js';
import { absolute, exists, runShell } from './shell.js';
import {
  composeLocal,
  type LocalDir,
  openLocalDir,
  type LocalReporter as Reporter,
} from '../../composition/local.js';
import { checkWebroot, webrootFix } from '../../shared/challenges/http01/webroot.js';
import { OrderHooks } from './hooks.js';

export interface LocalRenewOptions {
  out: string;
  deployHook?: string;
  directory?: string;
  caFile?: string;
  http01Listen?: string;
  http01Webroot?: string;
  json?: boolean;
  force?: boolean;
  /** Renew when fewer than this many days are left, instead of the renewal policy (as lego). */
  days?: string;
  /** Once before the run's first order (stop what holds port 80), instead of the saved one; see OrderHooks. */
  preHook?: string;
  /** Once after the run when anything was ordered, even on failure (start it again), instead of the saved one. */
  postHook?: string;
}

/** What happened to one certificate, as printed (and as --json). */
interface Row {
  name: string;
  status: RenewOutcome['status'] | 'skipped';
  serial?: string;
  notAfter?: string;
  /** When anything is next due (renewal, ARI poll), for not-due certificates. */
  dueAt?: string;
  error?: string;
  errorCode?: string;
  /** Not due, but needs attention: never issued, or its last attempt failed. */
  problem?: string;
  hook?: { exitCode: number };
}

export async function runLocalRenew(options: LocalRenewOptions): Promise<number> {
  const out = createOutput({ json: options.json });
  const dir = openLocalDir(options.out);
  let caPem: string | undefined;
  let records: InventoryRecord[];
  let days: number | undefined;
  try {
    if (options.directory !== undefined)
      options = { ...options, directory: caDirectoryUrl(options.directory) };
    days = parseDays(options.days);
    if (options.http01Listen !== undefined && options.http01Webroot !== undefined) {
      throw new ValidationError(
        '--http01-webroot',
        'both --http01-listen and --http01-webroot were given',
        'choose one way to answer HTTP-01',
      );
    }
    if (options.http01Webroot !== undefined) await checkWebroot(options.http01Webroot);
    // Without --ca-file: each certificate's saved caFile, else CERTKEEPER_ACME_CA_PEM (below).
    caPem = options.caFile !== undefined ? readCaFile(options.caFile) : undefined;
    records = (await dir.inventory.list()).filter((r) => r.state.status !== 'retired');
    if (records.length === 0) {
      throw new ValidationError(
        '--out',
        `${dir.root} holds no certificates${(await exists(dir.root)) ? '' : ' (it does not exist)'}`,
        'issue one first: certkeeper issue ... --out DIR',
      );
    }
  } catch (err) {
    const error = asCertkeeperError(err);
    sayError(error.describe());
    return error.code === 'validation' ? EXIT.usage : EXIT.attention;
  }

  const reporter = reporterFor(out);
  const hooks = new OrderHooks();
  const rows: Row[] = [];
  for (const record of records) {
    const row = await renewOne(dir, record, { ...options, days }, caPem, reporter, hooks);
    if (row.status === 'renewed' || row.status === 'issued') {
      if (options.deployHook) {
        row.hook = await runHook(options.deployHook, dir, options.out, row);
        if (row.hook.exitCode !== 0) {
          sayError(`${row.name}: the deploy hook failed (exit ${row.hook.exitCode})`);
        }
      }
    }
    if (row.error) sayError(`${row.name}: ${row.error}`);
    if (row.problem) sayError(`${row.name}: ${row.problem}`);
    rows.push(row);
  }
  // Every certificate is done (renewOne catches what it meets): the service comes back now.
  const post = await hooks.after();
  if (post !== undefined && post !== 0) sayError(`the post-hook failed (exit ${post})`);

  const now = new Date();
  const result = {
    certificates: rows,
    ...(hooks.pre !== undefined || hooks.post !== undefined
      ? { hooks: { pre: hooks.pre ?? null, post: hooks.post ?? null } }
      : {}),
  };
  out.result(result, () =>
    out.table(
      rows.map((r) => ({
        name: r.name,
        result:
          r.status === 'failed' || r.status === 'skipped'
            ? out.paint(r.status, 'fail')
            : r.status === 'busy'
              ? out.paint('busy (locked by another run)', 'warn')
              : r.status === 'not-due'
                ? r.problem
                  ? out.paint('not due, but failing', 'fail')
                  : 'not due'
                : out.paint(r.status, 'ok'),
        serial: r.serial ?? '',
        expires: relativeTime(r.notAfter, now),
        next: r.status === 'not-due' ? relativeTime(r.dueAt, now) : '',
        hook: r.hook ? (r.hook.exitCode === 0 ? 'ok' : out.paint('failed', 'fail')) : '',
      })),
    ),
  );
  // Cron must see what is not working: a certificate never issued, or whose last attempt
  // failed (waiting out its backoff, so not due now), exits 1 like a failure in this run.
  const failures = rows.filter(
    (r) =>
      r.status === 'failed' ||
      r.status === 'skipped' ||
      r.problem !== undefined ||
      (r.hook && r.hook.exitCode !== 0),
  );
  if (failures.length === 0 && (post === undefined || post === 0)) return EXIT.ok;
  return failures.length > 0 && failures.every((r) => r.errorCode === 'unreachable')
    ? EXIT.unreachable
    : EXIT.attention;
}

async function renewOne(
  dir: LocalDir,
  record: InventoryRecord,
  options: Omit<LocalRenewOptions, 'days'> & { days: number | undefined },
  caPem: string | undefined,
  reporter: Reporter,
  hooks: OrderHooks,
): Promise<Row> {
  const name = record.spec.name;
  let settings: LocalSettings | undefined;
  try {
    settings = await readSettings(dir, name);
  } catch (err) {
    return { name, status: 'skipped', error: asCertkeeperError(err).describe() };
  }
  const directory = options.directory ?? settings?.directory;
  if (!directory) {
    return {
      name,
      status: 'skipped',
      error: `no CA recorded for it in ${dir.root}/settings/. Fix: pass --directory-url URL`,
    };
  }
  // A challenge given on the command line replaces the saved one (a responder or a web root).
  const saved: Partial<LocalSettings> = { ...settings };
  if (options.http01Listen !== undefined || options.http01Webroot !== undefined) {
    delete saved.http01Listen;
    delete saved.http01Webroot;
  }
  const merged: LocalSettings = {
    ...saved,
    version: 1,
    directory,
    ...(options.http01Listen !== undefined ? { http01Listen: options.http01Listen } : {}),
    ...(options.http01Webroot !== undefined ? { http01Webroot: absolute(options.http01Webroot) } : {}),
    ...(options.caFile !== undefined ? { caFile: absolute(options.caFile) } : {}),
  };
  const composed = composeLocal(dir, {
    settings: merged,
    caPem: caPem ?? readCaFile(merged.caFile, `${dir.root}/settings/${name}.json caFile`),
    reporter,
    name,
    beforeOrder: hooks.beforeOrder(
      options.preHook ?? settings?.preHook,
      options.postHook ?? settings?.postHook,
    ),
  });
  try {
    const now = composed.deps.clock.now();
    const current = record.state.current;
    if (options.days !== undefined && !options.force && current) {
      // --days N replaces the policy (ARI, 2/3 of the lifetime): renew only under N days left.
      const dueAt = new Date(new Date(current.notAfter).getTime() - options.days * DAY_MS);
      if (dueAt > now) {
        return {
          name,
          status: 'not-due',
          serial: current.serial,
          notAfter: current.notAfter,
          dueAt: dueAt.toISOString(),
        };
      }
    }
    const force = options.force || (options.days !== undefined && current !== undefined);
    if (!force) await askAriThisRun(dir, name, now);
    const outcome = await renewCertificate(composed.deps, name, { force });
    const state = (await dir.inventory.get(name))?.state;
    // Keep DIR/live current even when nothing renewed (links deleted by hand, an older run cut off).
    if (state?.current) await updateLiveLinks(dir, options.out, name);
    const row: Row = {
      name,
      status: outcome.status,
      serial: state?.current?.serial,
      notAfter: state?.current?.notAfter,
    };
    if (outcome.status === 'not-due') {
      row.dueAt = outcome.dueAt;
      if (!state?.current)
        row.problem = `never issued${state?.lastError ? `: ${state.lastError.detail}` : ''}`;
      else if (state.lastError) row.problem = `its last attempt failed: ${state.lastError.detail}`;
    }
    if (outcome.status === 'failed') {
      const described = outcome.error.describe();
      const portFix =
        http01PortFix(described, merged.http01Listen) ?? webrootFix(described, merged.http01Webroot);
      row.error = `renewal failed: ${described}${outcome.retryAt ? ` (next attempt after ${outcome.retryAt})` : ''}${portFix ? `\nFix: ${portFix}` : ''}`;
      row.errorCode = outcome.error.code;
    }
    return row;
  } catch (err) {
    const error = asCertkeeperError(err);
    return { name, status: 'failed', error: error.describe(), errorCode: error.code };
  } finally {
    await composed.close();
  }
}

/**
 * Makes this run's renewCertificate poll ARI (see the file comment) by bringing the next
 * poll time forward to now. amendState runs under the name's guard and changes only that
 * field, so it cannot undo a concurrent renewal's state.
 */
async function askAriThisRun(dir: LocalDir, name: string, now: Date): Promise<void> {
  await amendState(dir.inventory, name, ({ state }) =>
    state.ari && new Date(state.ari.nextPollAt) > now
      ? { ...state, ari: { ...state.ari, nextPollAt: now.toISOString() } }
      : undefined,
  );
}

/**
 * Runs the deploy hook once for a renewed certificate: `sh -c CMD` with the certificate's
 * name and live paths in the environment. Its output goes to stderr so --json stays parseable.
 */
function runHook(command: string, dir: LocalDir, out: string, row: Row): Promise<NonNullable<Row['hook']>> {
  const path = (file: BundleFile) => `${dir.root}/live/${row.name}/${file}.pem`;
  return runShell(command, {
    ...process.env,
    CERTKEEPER_CERTIFICATE: row.name,
    CERTKEEPER_FULLCHAIN: path('fullchain'),
    CERTKEEPER_PRIVKEY: path('privkey'),
    CERTKEEPER_CERT: path('cert'),
    CERTKEEPER_CHAIN: path('chain'),
    CERTKEEPER_SERIAL: row.serial ?? '',
    CERTKEEPER_DIR: absolute(out),
  }).then((exitCode) => ({ exitCode }));
}

const DAY_MS = 86_400_000;

function parseDays(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const days = Number(text);
  if (!Number.isFinite(days) || days <= 0) {
    throw new ValidationError(
      '--days',
      `"${text}" is not a number of days`,
      'e.g. --days 30 (as lego renew --days)',
    );
  }
  return days;
}
