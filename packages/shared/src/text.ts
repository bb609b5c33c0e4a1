import { z } from 'zod';

/**
 * What text may contain, checked once at the edge (HTTP bodies, socket events, `/ws` frames,
 * handshakes). PostgreSQL refuses NUL in `text`, so a NUL that got past the edge would be
 * accepted, then dead-lettered by the archival worker, leaving an item or a message half
 * stored; the other C0 controls and lone surrogates are refused with it because no client has a
 * use for them and they corrupt terminals and logs.
 */

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const C0_OR_DEL = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex -- as above
const C0_OR_DEL_BUT_TAB_NEWLINE = /[\u0000-\u0008\u000b-\u001f\u007f]/;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export interface TextRules {
  /** Chat and DM text keep tab and newline; every other field refuses them too. @default false */
  readonly multiline?: boolean;
}

/** Why `text` is refused, or undefined when it is acceptable plain text. */
export function textProblem(text: string, rules: TextRules = {}): string | undefined {
  if ((rules.multiline ? C0_OR_DEL_BUT_TAB_NEWLINE : C0_OR_DEL).test(text)) {
    return rules.multiline
      ? 'must not contain control characters (tab and newline are allowed)'
      : 'must not contain control characters';
  }
  if (LONE_SURROGATE.test(text)) return 'must be well-formed Unicode (no lone surrogate)';
  return undefined;
}

/**
 * The refinement every text field at the edge goes through: `plainText(z.string().max(200))`.
 * Ids need it too where their own pattern would not already exclude controls.
 */
export function plainText<S extends z.ZodType<string>>(schema: S, rules: TextRules = {}) {
  return schema.superRefine((value, ctx) => {
    const problem = textProblem(value, rules);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, input: value });
  });
}
