// Text cleaning applied to every document before tokenization (--clean).
//
//   none       the decoded text as it is (invalid UTF-8 is still replaced with U+FFFD)
//   normalize  line breaks -> LF, control characters other than tab/LF removed, Unicode NFC,
//              trailing whitespace stripped from every line; newlines are never dropped
//   collapse   normalize, then every run of spaces/tabs inside a line folded to one space

export const CLEAN_MODES = ['none', 'normalize', 'collapse'] as const;
export type CleanMode = (typeof CLEAN_MODES)[number];

// Line breaks in their various spellings: CRLF, lone CR (classic Mac), VT, FF, NEL, LS, PS.
// They all become LF, so removing control characters afterwards never loses a line break.
const LINE_BREAKS = /\r\n|[\r\v\f\u0085\u2028\u2029]/g;
// C0 and C1 control characters (Unicode category Cc) except tab and LF; the line breaks among them
// were turned into LF first. Format characters (Cf: ZWJ, ZWNJ, soft hyphen...) are kept.
const CONTROLS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g;
// Horizontal whitespace: tab and the Unicode space separators (Zs: space, NBSP, ideographic space...).
// The lookbehind makes a match start only where a run starts: without it, a long run of spaces in the
// middle of a line is retried from every position (quadratic; 50,000 spaces took 10 s).
const TRAILING_SPACE = /(?<![\t\p{Zs}])[\t\p{Zs}]+$/gmu;
const SPACE_RUN = /[\t\p{Zs}]+/gu;

export function isCleanMode(value: unknown): value is CleanMode {
  return typeof value === 'string' && (CLEAN_MODES as readonly string[]).includes(value);
}

/** The text after cleaning with `mode`; see the top of this file. */
export function cleanText(text: string, mode: CleanMode): string {
  if (mode === 'none') return text;
  let out = text.replace(LINE_BREAKS, '\n').replace(CONTROLS, '').normalize('NFC').replace(TRAILING_SPACE, '');
  if (mode === 'collapse') out = out.replace(SPACE_RUN, ' ');
  return out;
}
