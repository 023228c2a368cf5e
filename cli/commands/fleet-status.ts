import { loadFleetStatus } from '../../shared/fleet/monitor.js';
import { type FleetStatus, type TargetStatus, isProblem, summarizeFleet } from '../../shared/fleet/status.js';
import type { TargetRow } from '../fleet-view/targets.js';
import type { InventoryRecord } from '../../shared/model/state.js';
import type { OperatorContext } from '../context.js';
import { type Output, relativeTime } from '../output.js';

/** The fleet view the fleet Lambda saved on its last tick (undefined before the first). */
export function readFleetView(ctx: OperatorContext): Promise<FleetStatus | undefined> {
  return loadFleetStatus(ctx.runtime.objects);
}

export const fleetNeedsAttention = (rows: readonly TargetRow[]): boolean =>
  rows.some((r) => isProblem(r.health));

const TONE = (health: TargetStatus['health']): 'ok' | 'warn' | 'fail' =>
  health === 'ok' ? 'ok' : health === 'updating' ? 'warn' : 'fail';

/** The table a person reads at a glance: every target, what it has, how late, how quiet. */
export function printFleet(
  out: Output,
  rows: readonly TargetRow[],
  view: FleetStatus | undefined,
  now: Date,
  certificatesWithoutTargets: readonly InventoryRecord[] = [],
): void {
  if (!view) {
    out.line('fleet: no view yet (the fleet Lambda writes it on each scheduler tick)');
    return;
  }
  out.table(
    rows.map((r) => ({
      certificate: r.certificate,
      target: `${r.kind} ${r.id}`,
      health: out.paint(r.health, TONE(r.health)),
      has: shortSerial(r.servedSerial ?? r.installedSerial),
      current: shortSerial(r.currentSerial ?? undefined),
      behind: r.behindMinutes === null ? '-' : `${r.behindMinutes} min`,
      report: r.lastReportAt ? relativeTime(r.lastReportAt, now) : '-',
      error: r.error ? clip(r.error) : '',
    })),
  );
  for (const r of certificatesWithoutTargets) out.line(`${r.spec.name}: no delivery targets declared`);
  const s = summarizeFleet(view);
  out.line(
    `fleet view of ${view.at} (${relativeTime(view.at, now)}), lag ${view.lagMinutes} min: ${s.targets} targets, ` +
      `${s.ok} ok, ${s.updating} updating, ${s.behind} behind, ${s.silent} silent, ${s.unreachable} unreachable, ${s.expiring} expiring`,
  );
}

const shortSerial = (serial: string | undefined): string =>
  serial === undefined ? '-' : serial.length > 16 ? `${serial.slice(0, 16)}…` : serial;

const clip = (text: string): string => {
  const line = text.split('\n')[0] ?? '';
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
};
