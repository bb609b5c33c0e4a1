import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { displayNameSchema, messageTextSchema, plainText, textProblem } from '../src/index.js';

describe('text at the edge', () => {
  const refusedEverywhere = ['a\u0000b', '\u0001', 'bell\u0007', 'cr\rlf', 'esc\u001b[2J', 'del\u007f'];

  it('refuses NUL and the other C0 controls and DEL in every field', () => {
    for (const text of [...refusedEverywhere, 'tab\there', 'new\nline']) {
      expect(textProblem(text), JSON.stringify(text)).toMatch(/control characters/);
      expect(displayNameSchema.safeParse(text).success, JSON.stringify(text)).toBe(false);
    }
  });

  it('keeps tab and newline in chat and DM text only', () => {
    for (const text of refusedEverywhere) {
      expect(messageTextSchema.safeParse(text).success, JSON.stringify(text)).toBe(false);
    }
    expect(messageTextSchema.parse('line one\n\tline two')).toBe('line one\n\tline two');
  });

  it('refuses lone surrogates and accepts paired ones', () => {
    for (const text of ['\ud800', 'a\udc00b', 'x\ud83d']) {
      expect(textProblem(text), JSON.stringify(text)).toMatch(/well-formed/);
      expect(messageTextSchema.safeParse(text).success).toBe(false);
    }
    expect(textProblem('gavel 🔨 ünïcödé 中文')).toBeUndefined();
    expect(displayNameSchema.parse('Zoë 🔨')).toBe('Zoë 🔨');
  });

  it('refines any string schema, keeping its own rules', () => {
    const title = plainText(z.string().trim().min(1).max(5));
    expect(title.parse('  ok  ')).toBe('ok');
    expect(title.safeParse('toolong').success).toBe(false);
    const refused = title.safeParse('a\u0000');
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.message).toBe('must not contain control characters');
  });
});
