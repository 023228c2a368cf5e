/**
 * The page's only way to make DOM: elements built with createElement, text set as text
 * nodes, attributes set one by one. Names, errors and problem details come from agents and
 * CAs (attacker-influenced), so nothing is ever parsed as HTML (eslint forbids innerHTML and
 * its relatives in this folder; the browser test proves a name like `<img onerror=...>`
 * shows as text).
 */
export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  title?: string;
  href?: string;
  /** Other attributes, set with setAttribute (never event handler attributes). */
  attrs?: Record<string, string>;
  style?: Record<string, string>;
  on?: Partial<Record<keyof HTMLElementEventMap, (event: Event) => void>>;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Props | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    if (props.class) el.className = props.class;
    if (props.title) el.title = props.title;
    if (props.href !== undefined) el.setAttribute('href', props.href);
    for (const [name, value] of Object.entries(props.attrs ?? {})) {
      if (/^on/i.test(name)) throw new Error(`event handler attribute ${name}: use props.on`);
      el.setAttribute(name, value);
    }
    for (const [name, value] of Object.entries(props.style ?? {})) el.style.setProperty(name, value);
    for (const [type, listener] of Object.entries(props.on ?? {})) el.addEventListener(type, listener);
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the element's children. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
}

/** A link to a certificate's detail view. */
export const certificateHref = (name: string): string => `#/certificate/${encodeURIComponent(name)}`;

/** Only http(s) links from data become links; anything else (javascript:, data:) stays text. */
export function safeLink(url: string, label: string): Node {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === 'https:' || parsed.protocol === 'http:') {
      return h('a', { href: parsed.href, attrs: { rel: 'noreferrer noopener', target: '_blank' } }, label);
    }
  } catch {
    // not a URL: shown as text below
  }
  return document.createTextNode(url);
}
