import type { CertificateStatus, InventoryRecord } from '../model/state.js';

export interface InventoryStats {
  byStatus: Record<CertificateStatus, number>;
  /** Hours until the soonest expiry among certificates in service; undefined when none. */
  minHoursToExpiry: number | undefined;
  /** The certificate that expires soonest, to name it in an alarm's context. */
  soonest: string | undefined;
}

/**
 * Figures for the dashboard and alarms, from a full read of the inventory (the hourly
 * stats run, not the tick): how many certificates are in each status, and how close the
 * nearest expiry is. Retired certificates are counted but never the nearest expiry.
 */
export function inventoryStats(records: readonly InventoryRecord[], now: Date): InventoryStats {
  const byStatus: Record<CertificateStatus, number> = {
    pending: 0,
    valid: 0,
    failing: 0,
    expired: 0,
    retired: 0,
  };
  let min: number | undefined;
  let soonest: string | undefined;
  for (const { spec, state } of records) {
    byStatus[state.status]++;
    if (state.status === 'retired' || !state.current) continue;
    const hours = (new Date(state.current.notAfter).getTime() - now.getTime()) / 3_600_000;
    if (min === undefined || hours < min) {
      min = hours;
      soonest = spec.name;
    }
  }
  return { byStatus, minHoursToExpiry: min, soonest };
}
