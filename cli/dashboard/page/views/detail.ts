/**
 * One certificate: its identifiers, profile, key type and labels, its current certificate
 * and renewal time, the last ACME problem with what to do about it, its delivery targets,
 * and the history of its serials (read from the bucket when the view opens).
 */
import type { CertificateHistory } from '../../../fleet-view/schema.js';
import { type Child, h, safeLink } from '../dom.js';
import { clockTime, minutesText, relativeTime } from '../format.js';
import type { CertificateRow } from '../model.js';
import { ago, badge, clipped, serial } from './cells.js';

export type HistoryState = { loading: true } | { failed: string } | CertificateHistory;

export function renderDetail(
  name: string,
  row: CertificateRow | undefined,
  history: HistoryState | undefined,
  now: Date,
  back: string,
): HTMLElement {
  const backLink = h('a', { class: 'back', href: back }, '← back');
  if (!row) {
    return h(
      'section',
      { class: 'detail' },
      backLink,
      h('h2', null, name),
      h('p', null, 'This certificate is not in the inventory (any more).'),
    );
  }
  const e = row.entry;
  const when = (iso: string | null): string => (iso ? `${clockTime(iso)} (${relativeTime(iso, now)})` : '-');
  const facts: [string, Child][] = [
    ['Identifiers', e.identifiers.join(', ')],
    ['Labels', row.labels.length ? row.labels.join(', ') : '-'],
    ['Status', e.status],
    ['Profile', e.profile ?? 'CA default'],
    ['Key type', e.keyType],
    ['Challenge', e.challenge],
    ['Serial', serial(e.serial)],
    ['Issued by', e.ca ?? '-'],
    ['Valid from', when(e.notBefore)],
    ['Valid until', when(e.notAfter)],
    [
      'Renewal',
      e.renewalAt
        ? `${when(e.renewalAt)}${e.renewalBy ? `, by ${e.renewalBy === 'ari' ? 'the CA (ARI)' : 'policy'}` : ''}`
        : '-',
    ],
    [
      'ARI window',
      e.ari
        ? h(
            'span',
            null,
            `${clockTime(e.ari.windowStart)} to ${clockTime(e.ari.windowEnd)}`,
            e.ari.explanationURL ? h('span', null, ' · ', safeLink(e.ari.explanationURL, 'why')) : null,
          )
        : '-',
    ],
    ['Attempts', `${e.attempts} failed in a row`],
    ['Next attempt', when(e.nextAttemptAt)],
    ['Next check', when(e.dueAt)],
  ];
  return h(
    'section',
    { class: 'detail', attrs: { 'data-detail': e.name } },
    backLink,
    h('h2', null, e.name, ' ', badge(e.state)),
    h('dl', { class: 'facts' }, ...facts.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
    problem(e),
    targets(row),
    historyBlock(history),
  );
}

function problem(e: CertificateRow['entry']): HTMLElement | null {
  const p = e.lastError;
  if (!p)
    return h(
      'section',
      { class: 'problem none' },
      h('h3', null, 'Last problem'),
      h('p', null, 'None on record.'),
    );
  return h(
    'section',
    { class: 'problem', attrs: { 'data-problem': '' } },
    h('h3', null, 'Last problem'),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'Type'),
      h('dd', null, p.type ?? p.code),
      h('dt', null, 'Detail'),
      h('dd', { class: 'pre' }, p.detail),
      h('dt', null, 'At'),
      h('dd', null, `${clockTime(p.at)}${p.ca ? ` at ${p.ca}` : ''}`),
    ),
    h('p', { class: 'fix' }, h('strong', null, 'Fix: '), p.fix),
  );
}

function targets(row: CertificateRow): HTMLElement {
  const list = row.entry.targets;
  const head = [
    'Target',
    'Health',
    'Installed',
    'Served',
    'Without the current serial',
    'Last report',
    'Last error',
  ];
  return h(
    'section',
    null,
    h('h3', null, 'Delivery targets'),
    list.length === 0
      ? h(
          'p',
          null,
          row.entry.delivery
            ? 'Not in the fleet view yet (it is made on each scheduler tick).'
            : 'None declared.',
        )
      : h(
          'div',
          { class: 'scroll-x' },
          h(
            'table',
            { class: 'small' },
            h('thead', null, h('tr', null, ...head.map((c) => h('th', null, c)))),
            h(
              'tbody',
              null,
              ...list.map((t) =>
                h(
                  'tr',
                  null,
                  h('td', null, `${t.kind} ${t.id}`),
                  h('td', null, badge(t.health)),
                  h('td', null, serial(t.installedSerial, t.currentSerial)),
                  h('td', null, serial(t.servedSerial, t.currentSerial)),
                  h(
                    'td',
                    null,
                    t.lacksCurrentSince
                      ? `${minutesText(t.behindMinutes)} (since ${clockTime(t.lacksCurrentSince)})`
                      : '-',
                  ),
                  h('td', null, t.kind === 'agent' ? ago(t.reportAgeMinutes) : '-'),
                  h('td', null, clipped(t.error)),
                ),
              ),
            ),
          ),
        ),
  );
}

function historyBlock(history: HistoryState | undefined): HTMLElement {
  const title = h('h3', null, 'History of serials');
  if (!history || 'loading' in history) return h('section', null, title, h('p', null, 'Reading the bucket…'));
  if ('failed' in history) return h('section', null, title, h('p', { class: 'bad' }, history.failed));
  const items = history.serials.map((s, i) =>
    h(
      'li',
      null,
      h('span', { class: 'serial' }, s.serial),
      ` ${i === 0 ? 'issued' : 'renewed'}`,
      s.current ? ' · current' : '',
    ),
  );
  return h(
    'section',
    { attrs: { 'data-history': '' } },
    title,
    history.error ? h('p', { class: 'bad' }, history.error) : null,
    items.length ? h('ol', { class: 'serials' }, ...items) : h('p', null, 'No serial stored yet.'),
    history.manifest
      ? h(
          'p',
          { class: 'muted' },
          `Current manifest: serial ${history.manifest.serial}, issued ${clockTime(history.manifest.issuedAt)}${history.manifest.ca ? ` by ${history.manifest.ca}` : ''}.`,
        )
      : null,
  );
}
