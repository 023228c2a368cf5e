/**
 * The fleet view's targets as rows (`status`, `status NAME`, the snapshot): what each target
 * has, what it lacks and since when, and how quiet it is, with ages rounded the one way
 * (shared/model/age.ts).
 */
import { sameSerial } from '../../shared/fleet/probe.js';
import type { CertificateFleet, FleetStatus, TargetStatus } from '../../shared/fleet/status.js';
import { minutesSince } from '../../shared/model/age.js';
import type { TargetRow } from './schema.js';

export type { TargetRow } from './schema.js';

/** One row per delivery target of every certificate in the view (or of `only`). */
export function targetRows(view: FleetStatus | undefined, now: Date, only?: string): TargetRow[] {
  const rows: TargetRow[] = [];
  if (!view) return rows;
  const viewAt = new Date(view.at);
  const certificates =
    only === undefined ? Object.entries(view.certificates) : [[only, view.certificates[only]]];
  for (const [certificate, c] of certificates as [string, CertificateFleet | undefined][]) {
    for (const t of c?.targets ?? []) {
      const lacksCurrentSince = lacksSince(t, c!);
      rows.push({
        ...t,
        certificate,
        currentSerial: c!.serial ?? null,
        lacksCurrentSince,
        behindMinutes: lacksCurrentSince === null ? null : minutesSince(lacksCurrentSince, viewAt),
        reportAgeMinutes: t.lastReportAt ? minutesSince(t.lastReportAt, now) : null,
      });
    }
  }
  return rows;
}

/** What the target has: what it serves when known (the truth), else what it installed. */
export const heldSerial = (t: Pick<TargetStatus, 'servedSerial' | 'installedSerial'>): string | undefined =>
  t.servedSerial ?? t.installedSerial;

/**
 * Since when the target has been without the current serial. The fleet view names it only
 * for targets it compares (behindSince); a silent agent, or one whose certificate is
 * expiring, lacks it just the same since the current serial was stored, unless what it
 * last reported is that serial.
 */
function lacksSince(t: TargetStatus, c: CertificateFleet): string | null {
  if (c.serial === undefined) return null;
  const has = heldSerial(t);
  if (has !== undefined && sameSerial(has, c.serial)) return null;
  return t.behindSince ?? c.storedAt ?? null;
}
