/** Cells and columns the views share: a certificate's link, a badge, a serial, an age. */
import { type Child, certificateHref, h } from '../dom.js';
import { clockTime, minutesText } from '../format.js';
import type { Column } from '../virtual-list.js';

export const certificateLink = (name: string): HTMLElement =>
  h('a', { class: 'name', href: certificateHref(name), title: name }, name);

/** A word in a coloured box; the colour comes from the value (a class, never a style from data). */
export const badge = (text: string, kind = text): HTMLElement =>
  h('span', { class: `badge b-${kind.replace(/[^a-z-]/g, '')}` }, text);

/** A serial in full (the cell may clip it; the title keeps it whole). */
export const serial = (value: string | null | undefined, current?: string | null): Child =>
  value
    ? h('span', { class: `serial${current && value !== current ? ' stale' : ''}`, title: value }, value)
    : '-';

/** "12 min ago", from minutes the snapshot computed. */
export const ago = (minutes: number | null): string =>
  minutes === null ? '-' : `${minutesText(minutes)} ago`;

/** Text that may be long (errors): one line, whole in the title. */
export const clipped = (text: string | null | undefined): Child =>
  text ? h('span', { class: 'clip', title: text }, text) : '';

/** Health in the order people want it: the worst first. */
export const HEALTH_ORDER: Record<string, number> = {
  expiring: 0,
  silent: 1,
  unreachable: 2,
  'wrong-certificate': 3,
  failed: 4,
  behind: 5,
  updating: 6,
  ok: 7,
};

export const STATE_ORDER: Record<string, number> = {
  expired: 0,
  expiring: 1,
  failing: 2,
  due: 3,
  pending: 4,
  issued: 5,
  retired: 6,
};

export const byText = (a: string | null | undefined, b: string | null | undefined): number =>
  (a ?? '').localeCompare(b ?? '');

export const byNumber = (a: number | null | undefined, b: number | null | undefined): number =>
  (a ?? Infinity) - (b ?? Infinity);

export const byTime = (a: string | null | undefined, b: string | null | undefined): number =>
  byNumber(a ? Date.parse(a) : null, b ? Date.parse(b) : null);

// ------------------------------------------------------------------ columns, by kind

type Get<T, V> = (item: T) => V;

export const certificateColumn = <T>(name: Get<T, string>): Column<T> => ({
  key: 'certificate',
  label: 'Certificate',
  cell: (t) => certificateLink(name(t)),
  compare: (a, b) => byText(name(a), name(b)),
});

/** Plain text, '-' when absent; `clip` for long text whose whole is in the title. */
export const textColumn = <T>(
  key: string,
  label: string,
  text: Get<T, string | null | undefined>,
  extra: Partial<Column<T>> & { clip?: boolean } = {},
): Column<T> => ({
  key,
  label,
  cell: (t) => (extra.clip ? clipped(text(t)) : (text(t) ?? '-')),
  compare: (a, b) => byText(text(a), text(b)),
  ...extra,
});

export const badgeColumn = <T>(
  key: string,
  label: string,
  word: Get<T, string>,
  order?: Record<string, number>,
): Column<T> => ({
  key,
  label,
  cell: (t) => badge(word(t)),
  compare: order
    ? (a, b) => (order[word(a)] ?? 9) - (order[word(b)] ?? 9)
    : (a, b) => byText(word(a), word(b)),
});

export const timeColumn = <T>(
  key: string,
  label: string,
  at: Get<T, string | null | undefined>,
  extra: Partial<Column<T>> = {},
): Column<T> => ({
  key,
  label,
  cell: (t) => clockTime(at(t)),
  compare: (a, b) => byTime(at(a), at(b)),
  ...extra,
});

/** How long ago the agent last reported ('-' for targets that do not report). */
export const reportColumn = <T>(
  minutes: Get<T, number | null>,
  reports: Get<T, boolean> = () => true,
): Column<T> => ({
  key: 'report',
  label: 'Last report',
  cell: (t) => (reports(t) ? ago(minutes(t)) : '-'),
  compare: (a, b) => byNumber(minutes(a), minutes(b)),
});

export const errorColumn = <T>(error: Get<T, string | null | undefined>): Column<T> =>
  textColumn('error', 'Last error', error, { className: 'opt', clip: true });

/** A row's link to its certificate's detail. */
export const detailOf =
  <T>(name: Get<T, string>) =>
  (t: T): string =>
    certificateHref(name(t));
