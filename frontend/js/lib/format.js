// Small formatting helpers for times, durations, counts and sizes, in the language in use
// (lib/i18n.js): numbers and dates come from `Intl`; units stay as they are (ms, s, KB).
import { formatDate, formatNumber, formatRelative, t } from "./i18n.js";

const DAY_MS = 86_400_000;

/** "182 ms", "1.4 s", or an em dash when unknown. */
export function formatMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${formatNumber(Math.round(ms))} ms`;
  const digits = ms < 10_000 ? 1 : 0;
  return `${formatNumber(ms / 1000, { minimumFractionDigits: digits, maximumFractionDigits: digits })} s`;
}

/** "just now", "5 minutes ago", "3 hours ago", "yesterday", or a date after a week. */
export function relativeTime(iso, now = Date.now()) {
  if (!iso) return t("common.format.never");
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "—";
  const ms = Math.max(0, now - then);
  if (ms < 45_000) return t("common.format.justNow");
  if (ms < 7 * DAY_MS) return formatRelative(then, now);
  return formatDate(then);
}

/** A full local date and time for tooltips. */
export function fullTime(iso) {
  if (!iso) return "";
  return formatDate(iso, { dateStyle: "medium", timeStyle: "medium" });
}

/** Parts of a sentence one after the other: "2 healthy, 1 unhealthy". */
export function joinParts(parts) {
  return parts.join(t("common.format.separator"));
}

/** "99.5%", "100%", or an em dash when unknown. */
export function formatPercent(value) {
  if (value === null || value === undefined) return "—";
  const digits = value >= 99.95 || Number.isInteger(value) ? 0 : 1;
  return formatNumber(value / 100, { style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${formatNumber(bytes)} B`;
  const one = { minimumFractionDigits: 1, maximumFractionDigits: 1 };
  if (bytes < 1024 * 1024) return `${formatNumber(bytes / 1024, one)} KB`;
  return `${formatNumber(bytes / 1024 / 1024, one)} MB`;
}

/** Whole seconds from `now` until `iso` (0 once it has passed; null without a time). */
export function secondsUntil(iso, now = Date.now()) {
  if (!iso) return null;
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return null;
  return Math.max(0, Math.ceil((then - now) / 1000));
}

/** A wait as people say it: "42 s", "1 min 5 s", "58 min", "1 h 5 min" (42 秒, 1 分 5 秒 …). */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("common.format.duration.seconds", { seconds: s });
  if (s < 600)
    return s % 60
      ? t("common.format.duration.minutesSeconds", { minutes: Math.floor(s / 60), seconds: s % 60 })
      : t("common.format.duration.minutes", { minutes: s / 60 });
  const minutes = Math.round(s / 60);
  if (minutes < 60) return t("common.format.duration.minutes", { minutes });
  const rest = minutes % 60;
  const hours = Math.floor(minutes / 60);
  return rest
    ? t("common.format.duration.hoursMinutes", { hours, minutes: rest })
    : t("common.format.duration.hours", { hours });
}

/** A local clock time for a moment today ("14:05"), with the date when it is another day. */
export function clockTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const time = formatDate(date, { hour: "2-digit", minute: "2-digit" });
  return date.toDateString() === new Date().toDateString() ? time : `${formatDate(date)} ${time}`;
}
