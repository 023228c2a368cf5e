/**
 * `certkeeper list --out DIR` and `certkeeper remove NAME --out DIR`: what a local directory
 * holds, and forgetting one certificate of it. The stack's `list`/`remove` have the same
 * names and flags (cli/commands/list.ts, remove.ts); `--out DIR` makes them local, as for `renew`.
 *
 * remove deletes, as `certbot delete` does (its renewal config, live/ and archive/ files),
 * rather than retiring as the stack's `remove` does: a stack keeps every version in a
 * versioned bucket for audit and can bring a retired certificate back, whereas a local
 * directory is one machine's working copy, and a forgotten certificate whose key stays on
 * disk is a key nobody rotates or watches. The ACME account is shared by every certificate
 * in DIR and stays; nothing is revoked (`certkeeper revoke` is the stack's; the CA-side
 * certificate simply expires).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { asCertkeeperError, NotFoundError, ValidationError } from '../../shared/model/errors.js';
import type { InventoryRecord } from '../../shared/model/state.js';
import { NAME_PATTERN } from '../../shared/model/spec.js';
import { certificatePrefix } from '../../shared/store/layout.js';
import { createOutput, EXIT, relativeTime } from '../output.js';
import { type CertificateSummary, summarize, tone } from '../summary.js';
import { liveDir } from './live.js';
import { sayError } from './reporter.js';
import { settingsKey } from './settings.js';
import { exists } from './shell.js';
import { openLocalDir } from '../../composition/local.js';

const DAY_MS = 86_400_000;

/** One certificate of DIR as `list --out DIR --json` prints it. */
export interface LocalCertificateSummary extends CertificateSummary {
  /** Whole days until notAfter (negative once expired), as certbot's "VALID: 89 days". */
  daysLeft: number | null;
  /** The last failed attempt (cleared by the next success). */
  lastError: { code: string; type: string | null; detail: string; at: string } | null;
  /** DIR/live/<name>/, where servers read the files. */
  live: string;
}

export interface LocalListOptions {
  out: string;
  json?: boolean;
}

export async function runLocalList(options: LocalListOptions): Promise<number> {
  const out = createOutput({ json: options.json });
  const dir = openLocalDir(options.out);
  let records: InventoryRecord[];
  try {
    // A directory that is not there is a mistyped path, not an empty list.
    if (!(await exists(dir.root))) {
      throw new ValidationError(
        '--out',
        `${dir.root} does not exist`,
        'give the directory certificates were issued into (certkeeper issue ... --out DIR)',
      );
    }
    records = await dir.inventory.list();
  } catch (err) {
    return fail(err);
  }
  const now = new Date();
  const rows = records.map((record) => localSummary(record, options.out, now));
  out.result(rows, () =>
    out.table(
      rows.map((s) => ({
        name: s.name,
        identifiers: s.identifiers.join(','),
        status: out.paint(s.status, tone(s)),
        serial: s.serial ?? '-',
        expires: s.notAfter ? `${s.notAfter} (${relativeTime(s.notAfter, now)})` : '-',
        'days left': s.daysLeft === null ? '-' : String(s.daysLeft),
        'last error': s.lastError ? out.paint(`${s.lastError.at}: ${s.lastError.detail}`, 'fail') : '',
      })),
    ),
  );
  // As the stack's list: cron and monitoring see a certificate that needs attention.
  return rows.some((s) => s.needsAttention) ? EXIT.attention : EXIT.ok;
}

export function localSummary(record: InventoryRecord, out: string, now: Date): LocalCertificateSummary {
  const summary = summarize(record, now);
  const lastError = record.state.lastError;
  return {
    ...summary,
    daysLeft:
      summary.notAfter === null
        ? null
        : Math.floor((new Date(summary.notAfter).getTime() - now.getTime()) / DAY_MS),
    lastError: lastError
      ? { code: lastError.code, type: lastError.type ?? null, detail: lastError.detail, at: lastError.at }
      : null,
    live: liveDir(out, summary.name),
  };
}

export interface LocalRemoveOptions {
  out: string;
  json?: boolean;
  /** Delete without asking (needed when stdin is not a terminal). */
  yes?: boolean;
}

/** A renewal in flight keeps the lease this long at most before remove gives up on it. */
const LEASE_MS = 60_000;

export async function runLocalRemove(name: string, options: LocalRemoveOptions): Promise<number> {
  const out = createOutput({ json: options.json });
  const dir = openLocalDir(options.out);
  try {
    // Checked before it becomes part of a path: a name never climbs out of DIR.
    if (!NAME_PATTERN.test(name)) {
      throw new ValidationError(
        '<name>',
        `"${name}" is not a certificate name`,
        'see certkeeper list --out DIR',
      );
    }
    const record = await dir.inventory.get(name);
    if (!record) {
      throw new NotFoundError(
        `certificate "${name}" is not in ${dir.root}`,
        `run \`certkeeper list --out ${options.out}\` to see the certificates there`,
      );
    }
    const store = join(dir.root, ...certificatePrefix(name).split('/'));
    const live = liveDir(options.out, name);
    const settings = join(dir.root, ...settingsKey(name).split('/'));
    const inventory = join(dir.root, 'inventory', `${name}.json`);
    if (!options.yes) {
      const question = `Delete ${name} (${record.spec.identifiers.map((i) => i.value).join(', ')}): its private keys and certificates in ${store}, the links in ${live} and its settings? A web server still pointing at ${live} will fail to start. [y/N] `;
      if (!process.stdin.isTTY) {
        throw new ValidationError(
          '--yes',
          `removing ${name} deletes its private keys and certificates, and there is no terminal to ask`,
          'add --yes to delete without asking',
        );
      }
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      const answer = await rl.question(question).finally(() => rl.close());
      if (!/^y(es)?$/i.test(answer.trim())) {
        sayError(`${name}: not removed`);
        return EXIT.attention;
      }
    }
    // Under the certificate's lease, so a renewal of it in another process (cron) is not
    // cut off halfway; that renewal's own inventory write then finds the record gone.
    const lease = await dir.lock.acquire(name, LEASE_MS);
    if (!lease) {
      sayError(`${name}: another certkeeper process is renewing it; try again when it is done`);
      return EXIT.attention;
    }
    try {
      // The record first: from here on no renew run picks it up, whatever happens next.
      await dir.inventory.remove(name);
      for (const path of [settings, live, store]) await rm(path, { recursive: true, force: true });
    } finally {
      await dir.lock.release(lease);
    }
    const result = {
      certificate: name,
      removed: true,
      serial: record.state.current?.serial ?? null,
      deleted: [inventory, settings, live, store],
      // The fencing counter stays, so a certificate issued again under this name never reuses a token.
      kept: [join(dir.root, 'accounts'), join(dir.root, 'locks', `${name}.fence`)],
    };
    out.result(result, () => {
      out.line(`${out.paint('removed', 'ok')} ${name}: it will not be renewed again`);
      for (const path of result.deleted) out.line(`  deleted ${path}`);
      out.line(`  kept    ${result.kept[0]} (the ACME account, shared by the certificates in DIR)`);
      out.line(`  kept    ${result.kept[1]} (its lock's fencing counter)`);
      out.line('  nothing was revoked: the certificate stays valid at the CA until it expires');
    });
    return EXIT.ok;
  } catch (err) {
    return fail(err);
  }
}

function fail(err: unknown): number {
  const error = asCertkeeperError(err);
  sayError(error.describe());
  return error.code === 'validation' || error.code === 'not-found'
    ? EXIT.usage
    : error.code === 'unreachable'
      ? EXIT.unreachable
      : EXIT.attention;
}
