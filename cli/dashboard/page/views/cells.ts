/** Cells the views share: a certificate's link, a badge, a serial, an age. */
import { type Child, certificateHref, h } from '../dom.js';
import { minutesText } from '../format.js';

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
