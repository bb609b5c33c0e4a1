import { describe, expect, it } from 'vitest';
import { formatCents, MAX_AMOUNT_CENTS, parseAmount } from '../src/money.js';

describe('parseAmount', () => {
  it.each([
    [100, 10000],
    ['100.00', 10000],
    [0.01, 1],
    ['0.1', 10],
    [12.34, 1234],
    ['  7.5 ', 750],
  ])('%j -> %i cents', (input, cents) => {
    expect(parseAmount(input)).toEqual({ ok: true, cents });
  });

  it.each([
    0,
    '0',
    '0.00',
    -1,
    '-5',
    1.234,
    '1.234',
    'abc',
    '',
    '1e5',
    1e21,
    NaN,
    Infinity,
    null,
    {},
    [],
    true,
    '0x10',
    '1,000',
  ])('rejects %j', (input) => {
    expect(parseAmount(input).ok).toBe(false);
  });

  it('rejects amounts above the cap and accepts the cap itself', () => {
    expect(parseAmount(formatCents(MAX_AMOUNT_CENTS))).toEqual({ ok: true, cents: MAX_AMOUNT_CENTS });
    expect(parseAmount(formatCents(MAX_AMOUNT_CENTS + 1)).ok).toBe(false);
    expect(parseAmount('99999999999999999999').ok).toBe(false);
  });

  it('formats cents without float arithmetic', () => {
    expect(formatCents(1)).toBe('0.01');
    expect(formatCents(123456)).toBe('1234.56');
  });
});
