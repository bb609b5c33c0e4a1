/**
 * Amounts travel as integer minor units (cents) end to end; this is the only place where a
 * decimal amount from a client becomes an integer, so no float arithmetic ever touches money.
 */

/** Largest accepted amount: 10,000,000.00 in major units. */
export const MAX_AMOUNT_CENTS = 1_000_000_000;

const DECIMAL = /^(0|[1-9]\d{0,15})(?:\.(\d{1,2}))?$/;

export type AmountResult = { ok: true; cents: number } | { ok: false; reason: string };

/** Parses a JSON number or a decimal string with at most 2 fractional digits into cents. */
export function parseAmount(input: unknown): AmountResult {
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { ok: false, reason: 'amount must be a finite number' };
    // String(0.1) is "0.1" and String(1e21) is "1e+21": the decimal check below rejects the
    // exponent forms, so only plain decimals that survive a round trip are accepted.
    text = String(input);
  } else if (typeof input === 'string') {
    text = input.trim();
  } else {
    return { ok: false, reason: 'amount must be a number or a decimal string' };
  }
  if (text.startsWith('-')) return { ok: false, reason: 'amount must be greater than 0' };
  const match = DECIMAL.exec(text);
  if (!match) {
    return { ok: false, reason: 'amount must be a decimal with at most 2 fractional digits' };
  }
  const whole = match[1] ?? '0';
  const fraction = (match[2] ?? '').padEnd(2, '0');
  if (whole.length > 12)
    return { ok: false, reason: `amount must be at most ${formatCents(MAX_AMOUNT_CENTS)}` };
  const cents = Number(whole) * 100 + Number(fraction);
  if (cents <= 0) return { ok: false, reason: 'amount must be greater than 0' };
  if (cents > MAX_AMOUNT_CENTS) {
    return { ok: false, reason: `amount must be at most ${formatCents(MAX_AMOUNT_CENTS)}` };
  }
  return { ok: true, cents };
}

/** 12345 -> "123.45" */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}
