// The bits of Python's str semantics that transformers' tokenizers rely on: Python indexes strings by code
// point, and its strip()/split() use str.isspace(), which is not JavaScript's \s (no U+FEFF; adds U+001C-U+001F, U+0085).

/** The characters of str.isspace() (all in the BMP, so stripping UTF-16 units is the same as stripping code points). */
const SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const LEADING = new RegExp(`^[${SPACE}]+`);
const TRAILING = new RegExp(`[${SPACE}]+$`);
const RUNS = new RegExp(`[${SPACE}]+`);

export const lstrip = (s: string): string => s.replace(LEADING, '');
export const rstrip = (s: string): string => s.replace(TRAILING, '');
export const strip = (s: string): string => lstrip(rstrip(s));

/** Python's `s.split()`: runs of whitespace separate, no empty items. */
export function split(s: string): string[] {
  const t = strip(s);
  return t ? t.split(RUNS) : [];
}

/** The code points of `s`, as Python's list(s). */
export const chars = (s: string): string[] => Array.from(s);
