// Every user-visible text comes from a message catalog (en.json and its translations);
// dates, numbers and sizes go through Intl in the chosen locale. English is bundled; the
// other catalogs load when chosen. The choice is remembered in localStorage.
import en from './en.json';

export type Key = keyof typeof en;
export type Catalog = Record<Key, string>;
export const LOCALES = { en: 'English', fr: 'Français', es: 'Español', pt: 'Português', sw: 'Kiswahili' } as const;
export type Locale = keyof typeof LOCALES;

const loaders: Record<string, () => Promise<{ default: Catalog }>> = import.meta.glob(['./*.json', '!./en.json']) as any;

const state = $state<{ locale: Locale; messages: Catalog }>({ locale: 'en', messages: en });

function isLocale(v: string | null): v is Locale {
  return !!v && v in LOCALES;
}

/** The catalog for `locale`, loaded on first use. */
async function load(locale: Locale): Promise<Catalog> {
  if (locale === 'en') return en;
  const m = await loaders[`./${locale}.json`]();
  return m.default;
}

export async function setLocale(locale: Locale) {
  state.messages = await load(locale);
  state.locale = locale;
  document.documentElement.lang = locale;
  try {
    localStorage.setItem('sh0.locale', locale);
  } catch {
    /* private mode: not remembered */
  }
}

/** The remembered locale, else the browser's first one sh0 has, else English. */
export async function initLocale() {
  let saved: string | null = null;
  try {
    saved = localStorage.getItem('sh0.locale');
  } catch {
    /* ignore */
  }
  const wanted = isLocale(saved) ? saved : (navigator.languages.map((l) => l.slice(0, 2)).find(isLocale) ?? 'en');
  await setLocale(wanted as Locale);
}

export function locale(): Locale {
  return state.locale;
}

/** Whether `key` is a message (for words the server sends, such as statuses). */
export function isKey(key: string): key is Key {
  return key in en;
}

/** The message `key`, with `{name}` placeholders filled from `vars`. */
export function t(key: Key, vars: Record<string, string | number> = {}): string {
  const text = state.messages[key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

export function fmtNumber(n: number, opts: Intl.NumberFormatOptions = {}): string {
  return new Intl.NumberFormat(state.locale, opts).format(n);
}

export function fmtDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : new Intl.DateTimeFormat(state.locale, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

/** "3 minutes ago", in the chosen language. */
export function fmtAgo(iso: string | null | undefined): string {
  if (!iso) return '—';
  const secs = (new Date(iso).getTime() - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(state.locale, { numeric: 'auto' });
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ['year', 31536000],
    ['month', 2592000],
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60]
  ];
  for (const [u, s] of units) if (Math.abs(secs) >= s) return rtf.format(Math.round(secs / s), u);
  return rtf.format(Math.round(secs), 'second');
}

export function fmtBytes(n: number | null | undefined): string {
  if (n == null) return '—';
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return new Intl.NumberFormat(state.locale, { style: 'unit', unit: units[i], unitDisplay: 'short', maximumFractionDigits: 1 }).format(v);
}

/** A tool's title in the chosen language; the registry's own (English) title for a tool
 *  the catalogs do not know yet, so a new tool is usable the day it is added. */
export function toolTitle(tool: { name: string; title: string }): string {
  const key = `tools.${tool.name}` as Key;
  return state.messages[key] ?? en[key] ?? tool.title;
}
