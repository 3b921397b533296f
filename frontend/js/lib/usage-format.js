// Usage figures in words: money per currency (never converted unless the user gave a rate),
// token counts, the periods of the Usage screen as the ISO bounds getUsageSummary takes, and
// local days as "YYYY-MM-DD". Numbers, money and dates are written in the app's language
// (lib/i18n.js): "$1.20" and "CN¥1.20" in English, "US$1.20" and "¥1.20" in Chinese.
import { formatDate, formatNumber, t } from "./i18n.js";

/** The page's IANA time zone (what the summary groups days by), or undefined. */
export function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}

/**
 * "$1.23", "CN¥0.0042" (English; "US$1.23", "¥0.0042" in Chinese): `Intl`'s symbol for the
 * language, which never lets USD and CNY look alike. Two decimals from 1 up, up to four below,
 * two significant digits below that.
 */
export function formatMoney(amount, currency) {
  const value = Number(amount) || 0;
  const size = Math.abs(value);
  const digits =
    size === 0 || size >= 1
      ? { minimumFractionDigits: 2, maximumFractionDigits: 2 }
      : size >= 0.0001
        ? { minimumFractionDigits: 2, maximumFractionDigits: 4 }
        : { maximumSignificantDigits: 2 };
  try {
    return formatNumber(value, { style: "currency", currency, ...digits });
  } catch {
    return `${formatNumber(value, { maximumFractionDigits: 4 })} ${currency}`; // a code Intl does not know
  }
}

/** The currencies of a `{CUR: n}` cost in a stable order (USD, CNY, then the rest). */
export function currenciesOf(...costs) {
  const all = new Set(costs.flatMap((c) => Object.keys(c || {})));
  const order = ["USD", "CNY"];
  return [...all].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99) || a.localeCompare(b));
}

/** Each currency of a cost on its own: "$1.20 + CN¥3.40"; "—" when there is none. */
export function formatCost(cost) {
  const parts = currenciesOf(cost).map((cur) => formatMoney(cost[cur], cur));
  return parts.length ? parts.join(" + ") : "—";
}

/** "12,345", or "1.2M" ("120万") from `compactFrom` up (the exact number belongs in a title). */
export function formatCount(n, compactFrom = 100_000) {
  const value = Number(n) || 0;
  if (Math.abs(value) < compactFrom) return formatNumber(value);
  return formatNumber(value, { notation: "compact", maximumFractionDigits: 1 });
}

/** "12,345" always. */
export function exactCount(n) {
  return formatNumber(Number(n) || 0);
}

/** "4.5%" of `part` in `whole`, or "—" when `whole` is 0. */
export function share(part, whole) {
  if (!whole) return "—";
  const ratio = part / whole;
  if (ratio > 0 && ratio < 0.001) return `<${percent(0.001, 1)}`;
  const pct = 100 * ratio;
  return percent(ratio, pct >= 99.95 || Number.isInteger(pct) ? 0 : 1);
}

/** "86%" for 0.86, with up to `digits` decimals. */
export function percent(ratio, digits = 0) {
  return formatNumber(ratio, { style: "percent", maximumFractionDigits: digits });
}

/** "2025-03-14" for the local day of `date`. */
export function localDay(date) {
  const y = date.getFullYear();
  const m = String(date.getMonth() + 1).padStart(2, "0");
  const d = String(date.getDate()).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

/** Local midnight of a "YYYY-MM-DD" day (null when it is not one). */
export function parseDay(text) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
  if (!match) return null;
  const date = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  return localDay(date) === text ? date : null;
}

function midnight(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate());
}

function addDays(date, days) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate() + days);
}

/** The periods the Usage screen offers, with the keys of their names. */
export const PRESETS = [
  { id: "today", label: "usage.period.today" },
  { id: "7d", label: "usage.period.days7" },
  { id: "30d", label: "usage.period.days30" },
  { id: "month", label: "usage.period.month" },
  { id: "custom", label: "usage.period.custom" },
];

/**
 * The local days of a period, first and last included, and the bounds the API takes (`since`
 * at the first day's midnight, `until` exclusive at the midnight after the last). Periods end
 * today; a custom one runs from `from` to `to` ("YYYY-MM-DD", swapped when reversed).
 * Null when a custom day is missing or not a date.
 */
export function periodRange(preset, { now = new Date(), from, to } = {}) {
  const today = midnight(now);
  let first = today;
  let last = today;
  if (preset === "7d") first = addDays(today, -6);
  else if (preset === "30d") first = addDays(today, -29);
  else if (preset === "month") first = new Date(today.getFullYear(), today.getMonth(), 1);
  else if (preset === "custom") {
    const a = parseDay(from);
    const b = parseDay(to);
    if (!a || !b) return null;
    [first, last] = a <= b ? [a, b] : [b, a];
  }
  const end = addDays(last, 1);
  const days = [];
  for (let d = first; d < end; d = addDays(d, 1)) days.push(localDay(d));
  return { since: first.toISOString(), until: end.toISOString(), from: localDay(first), to: localDay(last), days };
}

/** "Mar 14" / "3月14日" (or "Mar 14, 2024" / "2024年3月14日" when `withYear`) for a "YYYY-MM-DD" day. */
export function dayLabel(day, withYear = false) {
  const date = parseDay(day);
  if (!date) return day;
  return formatDate(date, { month: "short", day: "numeric", ...(withYear ? { year: "numeric" } : {}) });
}

/** "Mar 8 – Mar 14, 2025" / "2025年3月8日至3月14日", "Mar 14, 2025" for a period. */
export function periodLabel(range) {
  if (!range) return "";
  if (range.from === range.to) return dayLabel(range.from, true);
  // Where the year goes is the language's business: after the pair in English, before it in Chinese.
  const year = range.from.slice(0, 4);
  if (year === range.to.slice(0, 4))
    return t("usage.period.rangeSameYear", { from: dayLabel(range.from), to: dayLabel(range.to), year });
  return t("usage.period.range", { from: dayLabel(range.from, true), to: dayLabel(range.to, true) });
}
