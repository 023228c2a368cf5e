/**
 * The recent events, read from the same state `certkeeper status` reads: no event is stored
 * anywhere (they go to SNS and on), so the list is what the inventory and the fleet view
 * still show of them:
 *
 * - issued: the current certificate, when it was stored (`lastSuccessAt`). The state keeps
 *   no record of the serials before it, so a first issuance and a renewal look alike here;
 *   the certificate's history (its serials in the bucket) tells them apart.
 * - failed: the last failed attempt (`lastError`), with the attempts in a row.
 * - lagging: every target whose health is a problem now, since it turned so (`since`).
 *
 * A recovery leaves nothing behind in the view that tells it from an ordinary rollout (both
 * end `ok` with a new `since`), so recoveries are not listed here; the page lists those it
 * sees happen between two polls.
 */
import { isProblem } from '../../shared/fleet/status.js';
import { shortProblemType } from '../../shared/model/errors.js';
import type { InventoryRecord } from '../../shared/model/state.js';
import type { FleetEvent, TargetRow } from './schema.js';
import { heldSerial } from './targets.js';

/** How many events the snapshot carries, newest first. */
export const RECENT_EVENTS = 200;

export function recentEvents(records: readonly InventoryRecord[], rows: readonly TargetRow[]): FleetEvent[] {
  const events: FleetEvent[] = [];
  for (const { spec, state } of records) {
    const current = state.current;
    if (current) {
      events.push({
        type: 'issued',
        at: state.lastSuccessAt ?? current.notBefore,
        certificate: spec.name,
        target: null,
        serial: current.serial,
        detail: `serial ${current.serial}${current.ca ? ` from ${current.ca}` : ''}, valid until ${current.notAfter}`,
      });
    }
    const error = state.lastError;
    if (error && state.attempts > 0) {
      const what = error.type ? shortProblemType(error.type) : error.code;
      // An ACME error's detail already starts "ACME <type>: ".
      const detail = error.detail.startsWith(`ACME ${what}: `) ? error.detail : `${what}: ${error.detail}`;
      events.push({
        type: 'failed',
        at: error.at,
        certificate: spec.name,
        target: null,
        serial: current?.serial ?? null,
        detail: `attempt ${state.attempts}${error.ca ? ` at ${error.ca}` : ''}: ${detail}`,
      });
    }
  }
  for (const row of rows) {
    if (!isProblem(row.health)) continue;
    const has = heldSerial(row);
    events.push({
      type: 'lagging',
      at: row.since,
      certificate: row.certificate,
      target: { kind: row.kind, id: row.id },
      serial: row.currentSerial,
      detail: `${row.kind} ${row.id} ${row.health}${has ? `, has ${has}` : ''}${row.error ? `: ${row.error}` : ''}`,
    });
  }
  // Newest first; ties in a stable, readable order. Each time parsed once (10,000s of them).
  const times = new Map(events.map((e) => [e, Date.parse(e.at)]));
  events.sort(
    (a, b) =>
      times.get(b)! - times.get(a)! ||
      (a.certificate < b.certificate ? -1 : a.certificate > b.certificate ? 1 : 0) ||
      (a.type < b.type ? -1 : a.type > b.type ? 1 : 0),
  );
  return events.slice(0, RECENT_EVENTS);
}
