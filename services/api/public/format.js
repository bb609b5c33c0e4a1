/**
 * Display helpers. Money stays in integer cents (as on the server); only the grouping of the
 * whole part goes through Intl, so no float ever touches an amount.
 */

const DECIMAL = /^(0|[1-9]\d{0,15})(?:\.(\d{1,2}))?$/;
const grouping = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimalPoint =
  new Intl.NumberFormat(undefined).formatToParts(1.5).find((p) => p.type === 'decimal')?.value ?? '.';

/** "12.5" or 12.5 → 1250; undefined when it is not a plain decimal with at most 2 fractional digits. */
export function toCents(value) {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  const match = DECIMAL.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'));
}

/** 123456 → "1,234.56" (separators of the reader's locale). */
export function formatCents(cents) {
  if (typeof cents !== 'number' || !Number.isFinite(cents)) return '—';
  const whole = grouping.format(Math.trunc(Math.abs(cents) / 100));
  return `${cents < 0 ? '-' : ''}${whole}${decimalPoint}${String(Math.abs(cents) % 100).padStart(2, '0')}`;
}

/** Cents from an event (`amountCents`) or an api answer (`amount`, decimal). */
export function centsOf(payload) {
  if (!payload || typeof payload !== 'object') return undefined;
  if (typeof payload.amountCents === 'number') return payload.amountCents;
  return toCents(payload.amount);
}

/** For the bid input: 1250 → "12.50" (no grouping, a dot, as the api expects). */
export function plainAmount(cents) {
  return `${Math.trunc(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function toDate(value) {
  const date = new Date(typeof value === 'number' ? value : String(value ?? ''));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Local time of day, e.g. 14:03:07. */
export function localTime(value) {
  const date = toDate(value);
  return date ? time.format(date) : '';
}

/** Local date and time; just the time when it is today. */
export function localDateTime(value) {
  const date = toDate(value);
  if (!date) return '';
  return date.toDateString() === new Date().toDateString() ? localTime(date) : dateTime.format(date);
}

/** "4m 05s left", "2h 10m left", "ended". */
export function timeLeft(value, now = Date.now()) {
  const date = toDate(value);
  if (!date) return '';
  let s = Math.floor((date.getTime() - now) / 1000);
  if (s <= 0) return 'ended';
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d ${h}h left`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m left`;
  return `${m}m ${String(s).padStart(2, '0')}s left`;
}
