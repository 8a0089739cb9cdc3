// cleanCaption(): the caption cleaning of Skip-DiT's text-to-video (Latte) pipeline, re-implemented in TypeScript.
//
// The official code is `LattePipeline._text_preprocessing(text, clean_caption=True)` in
// OpenSparseLLMs/Skip-DiT text-to-video/sample/pipeline_latte.py (copied there from diffusers' DeepFloyd IF
// pipeline): for one string it returns `_clean_caption(_clean_caption(text))`. `_clean_caption` is a chain of
// Python `re` substitutions around three library calls: urllib's `unquote_plus`, BeautifulSoup(html.parser)
// `.text`, and `ftfy.fix_text` followed by `html.unescape` twice. Each piece is re-implemented here with the
// semantics of the Python it stands for (Python `re` on str patterns: Unicode `\w`, `\d`, `\s`, `\b`; `$` also
// before a final "\n"; `str.strip()`/`str.lower()`), verified against the real code by
// test/fixtures/caption-clean/cases.json (tools/ref/caption_ref.py: Python 3.11.2, bs4 4.11.2, ftfy 6.3.1) and
// by larger random differential runs. Where the Python form backtracks quadratically (e.g. `[\S]+\.png`, `\s+\.\s+`,
// `\b\d+\.?\d*x\d+...`, html.parser re-scanning to the end for every "<" of "<a<a<a..."), an equivalent form or a
// cache gives the same matches in linear time, so any string is cleaned in bounded time. What is NOT reproduced:
//   * ftfy's mojibake repair (`fix_encoding`: re-decoding text that looks like UTF-8 read as Latin-1/cp1252 etc.).
//     Every other step of ftfy.fix_text is reproduced (HTML entities, C1 controls, Latin ligatures, character
//     width, curly quotes, line breaks, surrogates, terminal escapes, control characters, NFC, to a fixed point).
//   * Inputs for which the official code raises (a `<![` marked section with an unknown keyword or no name, and
//     a decimal character reference of more than 4300 digits): here the first is read as a bogus comment (as
//     later CPython releases do) and the second as U+FFFD.
//   * Characters assigned after Unicode 14.0 (Python 3.11's tables) follow this runtime's Unicode version.
import { InvalidArgumentError } from './errors.js';
import { HTML5_ENTITIES, INVALID_CHARREFS, INVALID_CODEPOINTS } from './caption-entities.js';

// ---------------------------------------------------------------------------------------------------------------
// Python `re` character classes (str patterns), as JS `u`-flag regex source.

/** Python's `\s` (= the characters str.isspace() accepts, = what str.strip() removes). */
const S_BODY = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const S = `[${S_BODY}]`;
const NS = `[^${S_BODY}]`;
/** Python's `\w`: str.isalnum() (letters L*, and characters with a numeric value: Nd, Nl, No) or "_". */
const W_BODY = '\\p{L}\\p{Nd}\\p{Nl}\\p{No}_';
const W = `[${W_BODY}]`;
/** Python's `\d`: Unicode decimal digits (Nd). */
const D = '\\p{Nd}';
const ND = '\\P{Nd}';
/** Python's `\b` (Unicode word boundary; JS `\b` is ASCII-only). */
const B = `(?:(?<=${W})(?!${W})|(?<!${W})(?=${W}))`;
/** Python's `$` without MULTILINE: the end, or before a "\n" that ends the string. */
const END = '(?=\\n?$)';

const re = (source: string, flags = 'gu'): RegExp => new RegExp(source, flags);
const IS_SPACE = re(`^${S}$`, 'u');
/** Python str.strip() (a loop: a `\s+$` regex would be quadratic on long inner runs of spaces). */
function pyStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && IS_SPACE.test(s[a]!)) a++;
  while (b > a && IS_SPACE.test(s[b - 1]!)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

// ---------------------------------------------------------------------------------------------------------------
// urllib.parse.unquote_plus (encoding utf-8, errors "replace").

const UTF8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const HEX2 = /^[0-9a-fA-F]{2}/;

function unquoteAsciiRun(run: string): string {
  const parts = run.split('%');
  const bytes: number[] = [];
  const pushAscii = (t: string): void => {
    for (let i = 0; i < t.length; i++) bytes.push(t.charCodeAt(i));
  };
  pushAscii(parts[0]!);
  for (let p = 1; p < parts.length; p++) {
    const item = parts[p]!;
    if (HEX2.test(item)) {
      bytes.push(parseInt(item.slice(0, 2), 16));
      pushAscii(item.slice(2));
    } else {
      bytes.push(0x25);
      pushAscii(item);
    }
  }
  return UTF8.decode(Uint8Array.from(bytes));
}

function unquotePlus(s: string): string {
  s = s.replace(/\+/g, ' ');
  if (!s.includes('%')) return s;
  // Python decodes each maximal run of ASCII characters on its own (non-ASCII text is kept as it is).
  return s.replace(/[\x00-\x7f]+/g, (run) => (run.includes('%') ? unquoteAsciiRun(run) : run));
}

// ---------------------------------------------------------------------------------------------------------------
// html.unescape (Python 3.11).

const CP1252: ReadonlyMap<number, number> = new Map([
  [0x80, 0x20ac], [0x82, 0x201a], [0x83, 0x0192], [0x84, 0x201e], [0x85, 0x2026], [0x86, 0x2020], [0x87, 0x2021],
  [0x88, 0x02c6], [0x89, 0x2030], [0x8a, 0x0160], [0x8b, 0x2039], [0x8c, 0x0152], [0x8e, 0x017d], [0x91, 0x2018],
  [0x92, 0x2019], [0x93, 0x201c], [0x94, 0x201d], [0x95, 0x2022], [0x96, 0x2013], [0x97, 0x2014], [0x98, 0x02dc],
  [0x99, 0x2122], [0x9a, 0x0161], [0x9b, 0x203a], [0x9c, 0x0153], [0x9e, 0x017e], [0x9f, 0x0178],
]);

/** The value of a run of decimal or hex digits, or Infinity when it is above U+10FFFF (Python has big ints). */
function parseCodepoint(digits: string, radix: 10 | 16): number {
  const d = digits.replace(/^0+/, '');
  if (d.length > 8) return Infinity;
  return d === '' ? 0 : parseInt(d, radix);
}

const HTML_CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function replaceCharref(s: string): string {
  if (s[0] === '#') {
    const hex = s[1] === 'x' || s[1] === 'X';
    const num = parseCodepoint((hex ? s.slice(2) : s.slice(1)).replace(/;+$/, ''), hex ? 16 : 10);
    const fixed = INVALID_CHARREFS.get(num);
    if (fixed !== undefined) return fixed;
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
    if (INVALID_CODEPOINTS.has(num)) return '';
    return String.fromCodePoint(num);
  }
  const whole = HTML5_ENTITIES.get(s);
  if (whole !== undefined) return whole;
  // The longest name that is a prefix (the legacy entities without ";"), down to 2 characters.
  const cps = Array.from(s);
  for (let x = cps.length - 1; x > 1; x--) {
    const value = HTML5_ENTITIES.get(cps.slice(0, x).join(''));
    if (value !== undefined) return value + cps.slice(x).join('');
  }
  return '&' + s;
}

function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(HTML_CHARREF, (_m, g: string) => replaceCharref(g));
}

// ---------------------------------------------------------------------------------------------------------------
// BeautifulSoup(markup, "html.parser").text (bs4 4.11 on Python 3.11's html.parser.HTMLParser).

const ASCII_SPACES = /^[ \n\t\f\r]*$/;
const VOID_TAGS = new Set([
  'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'keygen', 'link', 'menuitem', 'meta', 'param', 'source',
  'track', 'wbr', 'basefont', 'bgsound', 'command', 'frame', 'image', 'isindex', 'nextid', 'spacer',
]);
/** Tags whose strings bs4 stores as Script/Stylesheet/TemplateString/Ruby*String: left out of `.text`. */
const STRING_CONTAINERS = new Set(['rt', 'rp', 'style', 'script', 'template']);
const PRESERVE_WHITESPACE = new Set(['pre', 'textarea']);
const CDATA_CONTENT_ELEMENTS = new Set(['script', 'style']);
/** What `re.compile(r'</\s*%s\s*>' % elem, re.I)` matches for script/style (Python's Unicode case-insensitivity). */
const CDATA_END: Record<string, RegExp> = {
  script: re(`<\\/${S}*[sSſ][cC][rR][iIİı][pP][tT]${S}*>`, 'gu'),
  style: re(`<\\/${S}*[sSſ][tT][yY][lL][eE]${S}*>`, 'gu'),
};

const INTERESTING_NORMAL = /[&<]/g;
const INCOMPLETE = /&[a-zA-Z#]/y;
const ENTITYREF = /&([a-zA-Z][-.a-zA-Z0-9]*)([^a-zA-Z0-9])/uy;
const CHARREF = /&#([0-9]+|[xX][0-9a-fA-F]+)([^0-9a-fA-F])/uy;
const STARTTAGOPEN = /<[a-zA-Z]/y;
const COMMENTCLOSE = re(`--${S}*>`, 'gu');
const TAGFIND_TOLERANT = re(`([a-zA-Z][^\\t\\n\\r\\f />\\x00]*)(?:${S}|\\/(?!>))*`, 'uy');
const ATTRFIND_TOLERANT = re(
  `((?<=['"${S_BODY}/])[^${S_BODY}/>][^${S_BODY}/=>]*)(${S}*=+${S}*('[^']*'|"[^"]*"|(?!['"])[^>${S_BODY}]*))?(?:${S}|\\/(?!>))*`,
  'uy',
);
// Python's locatestarttagend_tolerant,
//   <[a-zA-Z][^\t\n\r\f />\x00]* (?:[\s/]* (?:ATTR)* )? \s*
// is matched in pieces (see SoupText.locateStartTagEnd): it never fails, so it takes its greedy path, and the
// ATTR iterations from a given position always end at the same place, which is memoized (one pass over
// "<a b<a b<a b..." instead of one per "<").
const TAG_NAME_STOP = /[\t\n\r\f />\x00]/g;
const SPACES_OR_SLASHES = re(`[${S_BODY}/]*`, 'uy');
const START_TAG_ATTR = re(
  `(?<=['"${S_BODY}/])[^${S_BODY}/>][^${S_BODY}/=>]*` +
    `(?:${S}*=+${S}*(?:'[^']*'|"[^"]*"|(?!['"])[^>${S_BODY}]*)${S}*)?(?:${S}|\\/(?!>))*`,
  'uy',
);
const SPACES = re(`${S}*`, 'uy');

/** Searches one string with a global regex, remembering the last answer: a later search from a position at or
 * before that answer (or past a failed search) is answered without scanning again. Keeps the parser linear. */
class Finder {
  private from = -1;
  private index = -1;
  private end = -1;
  constructor(private readonly rx: RegExp, private readonly s: string) {}
  /** [start, end) of the first match at or after `p`, or null. */
  find(p: number): [number, number] | null {
    if (this.from >= 0 && p >= this.from && (this.index < 0 || p <= this.index)) {
      return this.index < 0 ? null : [this.index, this.end];
    }
    this.rx.lastIndex = p;
    const m = this.rx.exec(this.s);
    this.from = p;
    this.index = m ? m.index : -1;
    this.end = m ? m.index + m[0].length : -1;
    return m ? [this.index, this.end] : null;
  }
  /** Like String.prototype.indexOf / Python str.find for a one-character regex. */
  indexOf(p: number): number {
    const r = this.find(p);
    return r ? r[0] : -1;
  }
}
const ENDTAGFIND = re(`<\\/${S}*([a-zA-Z][-.a-zA-Z0-9:_]*)${S}*>`, 'uy');
const DECLNAME = re(`[a-zA-Z][-_.a-zA-Z0-9]*${S}*`, 'uy');
const MARKEDSECTIONCLOSE = re(`\\]${S}*\\]${S}*>`, 'gu');
const MSMARKEDSECTIONCLOSE = re(`\\]${S}*>`, 'gu');

/** Python's markupbase raises here; the official pipeline would raise. */
class MarkupRejected extends Error {}

type StringKind = 'text' | 'cdata' | 'other';

function matchAt(rx: RegExp, s: string, i: number): RegExpExecArray | null {
  rx.lastIndex = i;
  return rx.exec(s);
}

class SoupText {
  private raw = '';
  private cdataElem: string | null = null;
  private interesting: RegExp = INTERESTING_NORMAL;
  // bs4's tree, as far as `.text` depends on it.
  private readonly stack: string[] = [];
  private readonly openCount = new Map<string, number>();
  private preserveDepth = 0;
  private containerDepth = 0;
  private readonly alreadyClosedEmpty: string[] = [];
  private pieces: string[] = [];
  private readonly out: string[] = [];
  // Per-pass caches over this.raw (see Finder); remade when this.raw changes.
  private gt!: Finder;
  private tagNameStop!: Finder;
  private commentClose!: Finder;
  private sectionClose!: Finder;
  private msSectionClose!: Finder;
  private attrChainEnd = new Map<number, number>();

  private setRaw(raw: string): void {
    this.raw = raw;
    this.gt = new Finder(/>/g, raw);
    this.tagNameStop = new Finder(TAG_NAME_STOP, raw);
    this.commentClose = new Finder(COMMENTCLOSE, raw);
    this.sectionClose = new Finder(MARKEDSECTIONCLOSE, raw);
    this.msSectionClose = new Finder(MSMARKEDSECTIONCLOSE, raw);
    this.attrChainEnd = new Map();
  }

  text(markup: string): string {
    this.setRaw(markup);
    this.goahead(false);
    this.goahead(true);
    this.endData('text');
    while (this.stack.length > 0) this.popTag();
    return this.out.join('');
  }

  // --- BeautifulSoup (the tree builder) ---
  private endData(kind: StringKind): void {
    if (this.pieces.length === 0) return;
    let data = this.pieces.join('');
    this.pieces = [];
    if (this.preserveDepth === 0 && ASCII_SPACES.test(data)) data = data.includes('\n') ? '\n' : ' ';
    if (kind === 'cdata' || (kind === 'text' && this.containerDepth === 0)) this.out.push(data);
  }
  private pushTag(name: string): void {
    this.stack.push(name);
    this.openCount.set(name, (this.openCount.get(name) ?? 0) + 1);
    if (PRESERVE_WHITESPACE.has(name)) this.preserveDepth++;
    if (STRING_CONTAINERS.has(name)) this.containerDepth++;
  }
  private popTag(): void {
    const name = this.stack.pop()!;
    this.openCount.set(name, this.openCount.get(name)! - 1);
    if (PRESERVE_WHITESPACE.has(name)) this.preserveDepth--;
    if (STRING_CONTAINERS.has(name)) this.containerDepth--;
  }
  private soupStartTag(name: string): void {
    this.endData('text');
    this.pushTag(name);
  }
  private soupEndTag(name: string): void {
    this.endData('text');
    for (let i = this.stack.length - 1; i >= 0; i--) {
      if (!this.openCount.get(name)) break;
      const t = this.stack[i]!;
      this.popTag();
      if (t === name) break;
    }
  }
  private handleData(data: string): void {
    this.pieces.push(data);
  }
  private handleSpecial(data: string, kind: StringKind): void {
    this.endData('text');
    this.pieces.push(data);
    this.endData(kind);
  }

  // --- BeautifulSoupHTMLParser (bs4's HTMLParser subclass) ---
  private handleStartTag(name: string, handleEmptyElement = true): void {
    this.soupStartTag(name);
    if (VOID_TAGS.has(name) && handleEmptyElement) {
      this.handleEndTag(name, false);
      this.alreadyClosedEmpty.push(name);
    }
  }
  private handleEndTag(name: string, checkAlreadyClosed = true): void {
    const at = checkAlreadyClosed ? this.alreadyClosedEmpty.indexOf(name) : -1;
    if (at >= 0) this.alreadyClosedEmpty.splice(at, 1);
    else this.soupEndTag(name);
  }
  private handleStartEndTag(name: string): void {
    this.handleStartTag(name, false);
    this.handleEndTag(name);
  }
  private handleCharref(name: string): void {
    const hex = name[0] === 'x' || name[0] === 'X';
    const num = parseCodepoint(hex ? name.replace(/^[xX]+/, '') : name, hex ? 16 : 10);
    let data: string;
    if (num < 256) {
      // bytes([num]).decode('windows-1252'), else chr(num)
      data = num >= 0x80 && num < 0xa0 ? String.fromCodePoint(CP1252.get(num) ?? num) : String.fromCodePoint(num);
    } else data = num > 0x10ffff ? '\ufffd' : String.fromCodePoint(num);
    this.handleData(data);
  }
  private handleEntityref(name: string): void {
    const value = HTML5_ENTITIES.get(name + ';') ?? HTML5_ENTITIES.get(name);
    this.handleData(value ?? '&' + name);
  }
  private unknownDecl(data: string): void {
    if (data.toUpperCase().startsWith('CDATA[')) this.handleSpecial(data.slice(6), 'cdata');
    else this.handleSpecial(data, 'other');
  }

  // --- html.parser.HTMLParser (convert_charrefs=False) ---
  private goahead(end: boolean): void {
    const raw = this.raw;
    const n = raw.length;
    let i = 0;
    while (i < n) {
      let j: number;
      const m = matchAt(this.interesting, raw, i);
      if (m) j = m.index;
      else {
        if (this.cdataElem) break;
        j = n;
      }
      if (i < j) this.handleData(raw.slice(i, j));
      i = j;
      if (i === n) break;
      if (raw.startsWith('<', i)) {
        let k: number;
        if (matchAt(STARTTAGOPEN, raw, i)) k = this.parseStartTag(i);
        else if (raw.startsWith('</', i)) k = this.parseEndTag(i);
        else if (raw.startsWith('<!--', i)) k = this.parseComment(i);
        else if (raw.startsWith('<?', i)) k = this.parsePi(i);
        else if (raw.startsWith('<!', i)) k = this.parseHtmlDeclaration(i);
        else if (i + 1 < n) {
          this.handleData('<');
          k = i + 1;
        } else break;
        if (k < 0) {
          if (!end) break;
          k = this.gt.indexOf(i + 1);
          if (k < 0) {
            k = raw.indexOf('<', i + 1);
            if (k < 0) k = i + 1;
          } else k += 1;
          this.handleData(raw.slice(i, k));
        }
        i = k;
      } else if (raw.startsWith('&#', i)) {
        const cm = matchAt(CHARREF, raw, i);
        if (cm) {
          this.handleCharref(cm[1]!);
          i += 2 + cm[1]!.length + (cm[2] === ';' ? 1 : 0);
          continue;
        }
        if (raw.indexOf(';', i) >= 0) {
          this.handleData(raw.slice(i, i + 2));
          i += 2;
        }
        break;
      } else if (raw.startsWith('&', i)) {
        const em = matchAt(ENTITYREF, raw, i);
        if (em) {
          this.handleEntityref(em[1]!);
          i += 1 + em[1]!.length + (em[2] === ';' ? 1 : 0);
          continue;
        }
        const im = matchAt(INCOMPLETE, raw, i);
        if (im) {
          if (end && im[0] === raw.slice(i)) i += 1;
          break;
        } else if (i + 1 < n) {
          this.handleData('&');
          i += 1;
        } else break;
      } else {
        throw new Error('interesting.search() lied');
      }
    }
    if (end && i < n && !this.cdataElem) {
      this.handleData(raw.slice(i, n));
      i = n;
    }
    if (i > 0) this.setRaw(raw.slice(i));
  }

  private setCdataMode(elem: string): void {
    this.cdataElem = elem;
    this.interesting = CDATA_END[elem]!;
  }
  private clearCdataMode(): void {
    this.interesting = INTERESTING_NORMAL;
    this.cdataElem = null;
  }

  private parseHtmlDeclaration(i: number): number {
    const raw = this.raw;
    if (raw.startsWith('<!--', i)) return this.parseComment(i);
    if (raw.startsWith('<![', i)) {
      try {
        return this.parseMarkedSection(i);
      } catch (e) {
        if (!(e instanceof MarkupRejected)) throw e;
        // Python raises AssertionError here (the official pipeline fails); we read it as a bogus comment, as
        // later CPython releases do.
        return this.parseBogusComment(i);
      }
    }
    if (raw.slice(i, i + 9).toLowerCase() === '<!doctype') {
      const gtpos = this.gt.indexOf(i + 9);
      if (gtpos === -1) return -1;
      this.handleSpecial(raw.slice(i + 2, gtpos).slice(8), 'other');
      return gtpos + 1;
    }
    return this.parseBogusComment(i);
  }
  private parseBogusComment(i: number): number {
    const pos = this.gt.indexOf(i + 2);
    if (pos === -1) return -1;
    this.handleSpecial(this.raw.slice(i + 2, pos), 'other');
    return pos + 1;
  }
  private parsePi(i: number): number {
    const j = this.gt.indexOf(i + 2);
    if (j < 0) return -1;
    this.handleSpecial(this.raw.slice(i + 2, j), 'other');
    return j + 1;
  }
  private parseComment(i: number): number {
    const m = this.commentClose.find(i + 4);
    if (!m) return -1;
    this.handleSpecial(this.raw.slice(i + 4, m[0]), 'other');
    return m[1];
  }
  private parseMarkedSection(i: number): number {
    const raw = this.raw;
    const at = i + 3;
    if (at === raw.length) return -1;
    const nm = matchAt(DECLNAME, raw, at);
    if (!nm) throw new MarkupRejected('expected name token');
    if (at + nm[0].length === raw.length) return -1;
    const sectName = pyStrip(nm[0]).toLowerCase();
    let close: Finder;
    if (['temp', 'cdata', 'ignore', 'include', 'rcdata'].includes(sectName)) close = this.sectionClose;
    else if (['if', 'else', 'endif'].includes(sectName)) close = this.msSectionClose;
    else throw new MarkupRejected('unknown status keyword in marked section');
    const m = close.find(at);
    if (!m) return -1;
    this.unknownDecl(raw.slice(at, m[0]));
    return m[1];
  }
  private checkForWholeStartTag(i: number): number {
    const raw = this.raw;
    const j = this.locateStartTagEnd(i);
    const next = raw.charAt(j);
    if (next === '>') return j + 1;
    if (next === '/') return raw.startsWith('/>', j) ? j + 2 : -1;
    if (next === '') return -1;
    if (/^[a-zA-Z=/]$/.test(next)) return -1;
    return j > i ? j : i + 1;
  }
  /** Where locatestarttagend_tolerant's match from `i` (a "<" and a letter) ends. */
  private locateStartTagEnd(i: number): number {
    const raw = this.raw;
    const stop = this.tagNameStop.indexOf(i + 2);
    const nameEnd = stop < 0 ? raw.length : stop;
    let p = matchAt(SPACES_OR_SLASHES, raw, nameEnd)!;
    let q = p.index + p[0].length;
    // (?:ATTR)*: follow the iterations, memoizing where each one's chain ends.
    const path: number[] = [];
    let end: number | undefined;
    for (;;) {
      end = this.attrChainEnd.get(q);
      if (end !== undefined) break;
      path.push(q);
      const a = matchAt(START_TAG_ATTR, raw, q);
      if (!a) {
        end = q;
        break;
      }
      q = a.index + a[0].length;
    }
    for (const at of path) this.attrChainEnd.set(at, end);
    p = matchAt(SPACES, raw, end)!;
    return p.index + p[0].length;
  }
  private parseStartTag(i: number): number {
    const endpos = this.checkForWholeStartTag(i);
    if (endpos < 0) return endpos;
    const raw = this.raw;
    const tm = matchAt(TAGFIND_TOLERANT, raw, i + 1)!;
    let k = tm.index + tm[0].length;
    const tag = tm[1]!.toLowerCase();
    while (k < endpos) {
      const am = matchAt(ATTRFIND_TOLERANT, raw, k);
      if (!am) break;
      k = am.index + am[0].length;
    }
    const end = pyStrip(k < endpos ? raw.slice(k, endpos) : '');
    if (end !== '>' && end !== '/>') {
      this.handleData(raw.slice(i, endpos));
      return endpos;
    }
    if (end.endsWith('/>')) this.handleStartEndTag(tag);
    else {
      this.handleStartTag(tag);
      if (CDATA_CONTENT_ELEMENTS.has(tag)) this.setCdataMode(tag);
    }
    return endpos;
  }
  private parseEndTag(i: number): number {
    const raw = this.raw;
    let gtpos = this.gt.indexOf(i + 1);
    if (gtpos < 0) return -1;
    gtpos += 1;
    const m = matchAt(ENDTAGFIND, raw, i);
    if (!m) {
      if (this.cdataElem !== null) {
        this.handleData(raw.slice(i, gtpos));
        return gtpos;
      }
      const nm = matchAt(TAGFIND_TOLERANT, raw, i + 2);
      if (!nm) {
        if (raw.startsWith('</>', i)) return i + 3;
        return this.parseBogusComment(i);
      }
      const tagname = nm[1]!.toLowerCase();
      const gt = this.gt.indexOf(nm.index + nm[0].length);
      this.handleEndTag(tagname);
      return gt + 1;
    }
    const elem = m[1]!.toLowerCase();
    if (this.cdataElem !== null && elem !== this.cdataElem) {
      this.handleData(raw.slice(i, gtpos));
      return gtpos;
    }
    this.handleEndTag(elem);
    this.clearCdataMode();
    return gtpos;
  }
}

function soupText(markup: string): string {
  return new SoupText().text(markup);
}

// ---------------------------------------------------------------------------------------------------------------
// ftfy.fix_text (6.3) with its default configuration, without fix_encoding (the mojibake repair).

let ftfyEntities: Map<string, string> | undefined;
function ftfyEntityTable(): Map<string, string> {
  if (ftfyEntities) return ftfyEntities;
  const table = new Map<string, string>();
  for (const [name, char] of HTML5_ENTITIES) {
    if (!name.endsWith(';')) continue;
    table.set('&' + name, char);
    if (name === name.toLowerCase()) {
      const upper = '&' + name.toUpperCase();
      if (htmlUnescape(upper) === upper) table.set(upper, char.toUpperCase());
    }
  }
  ftfyEntities = table;
  return table;
}

const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;
function ftfyUnescapeHtml(text: string): string {
  return text.replace(FTFY_ENTITY, (m) => {
    const value = ftfyEntityTable().get(m);
    if (value !== undefined) return value;
    if (m.startsWith('&#')) {
      const u = htmlUnescape(m);
      return u.includes(';') ? m : u;
    }
    return m;
  });
}

const LIGATURES: Record<string, string> = {
  'Ĳ': 'IJ', 'ĳ': 'ij', 'ŉ': 'ʼn', 'Ǳ': 'DZ', 'ǲ': 'Dz', 'ǳ': 'dz', 'Ǆ': 'DŽ', 'ǅ': 'Dž', 'ǆ': 'dž', 'Ǉ': 'LJ',
  'ǈ': 'Lj', 'ǉ': 'lj', 'Ǌ': 'NJ', 'ǋ': 'Nj', 'ǌ': 'nj', 'ﬀ': 'ff', 'ﬁ': 'fi', 'ﬂ': 'fl', 'ﬃ': 'ffi', 'ﬄ': 'ffl',
  'ﬅ': 'ſt', 'ﬆ': 'st',
};
const LIGATURE_RE = /[ĲĳŉǱǲǳǄǅǆǇǈǉǊǋǌﬀﬁﬂﬃﬄﬅﬆ]/g;

let widthMap: Map<string, string> | undefined;
function widthTable(): Map<string, string> {
  if (widthMap) return widthMap;
  const map = new Map<string, string>([['\u3000', ' ']]);
  for (let c = 0xff01; c < 0xfff0; c++) {
    const ch = String.fromCharCode(c);
    const alt = ch.normalize('NFKC');
    if (alt !== ch) map.set(ch, alt);
  }
  widthMap = map;
  return map;
}
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;

const C1_RE = /[\x80-\x9f]/g;
const ANSI_RE = /\x1b\[((?:\p{Nd}|;)*)([a-zA-Z])/gu;
const CONTROL_RE = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;
const LONE_SURROGATE = /[\ud800-\udfff]/gu;

function ftfyFixSegment(text: string, unescape: boolean): string {
  for (;;) {
    const orig = text;
    if (unescape) text = ftfyUnescapeHtml(text);
    // (fix_encoding, the mojibake repair, would run here: not reproduced)
    text = text.replace(C1_RE, (c) => String.fromCodePoint(CP1252.get(c.charCodeAt(0)) ?? c.charCodeAt(0)));
    text = text.replace(LIGATURE_RE, (c) => LIGATURES[c]!);
    text = text.replace(WIDTH_RE, (c) => widthTable().get(c) ?? c);
    text = text.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");
    text = text.replace(/\r\n/g, '\n').replace(/[\r\u2028\u2029\u0085]/g, '\n');
    text = text.replace(LONE_SURROGATE, '\ufffd');
    text = text.replace(ANSI_RE, '');
    text = text.replace(CONTROL_RE, '');
    text = text.normalize('NFC');
    if (text === orig) return text;
  }
}

const MAX_DECODE_LENGTH = 1_000_000;
function ftfyFixText(text: string): string {
  const out: string[] = [];
  let unescape = true;
  let pos = 0;
  while (pos < text.length) {
    let brk = text.indexOf('\n', pos) + 1;
    if (brk === 0) brk = text.length;
    // Python measures segments in code points.
    const seg = text.slice(pos, brk);
    let segment = seg;
    if (seg.length > MAX_DECODE_LENGTH) {
      const cps = Array.from(seg);
      if (cps.length > MAX_DECODE_LENGTH) segment = cps.slice(0, MAX_DECODE_LENGTH).join('');
    }
    if (unescape && segment.includes('<')) unescape = false;
    out.push(ftfyFixSegment(segment, unescape));
    pos += segment.length;
  }
  return out.join('');
}

// ---------------------------------------------------------------------------------------------------------------
// _clean_caption.

const URL_1 = re(`${B}((?:https?:(?:\\/{1,3}|[a-zA-Z0-9%])|[a-zA-Z0-9.\\-]+[.](?:com|co|ru|net|org|edu|gov|it)[${W_BODY}/-]*${B}\\/?(?!@)))`);
const URL_2 = re(`${B}((?:www:(?:\\/{1,3}|[a-zA-Z0-9%])|[a-zA-Z0-9.\\-]+[.](?:com|co|ru|net|org|edu|gov|it)[${W_BODY}/-]*${B}\\/?(?!@)))`);
const TLD = /[.](?:com|co|ru|net|org|edu|gov|it)/;
const NICKNAME = re(`@${W}+${B}`);
const CJK = /[\u31c0-\u9fff]+/gu;
const DASHES = /[\u002D\u058A\u05BE\u1400\u1806\u2010-\u2015\u2E17\u2E1A\u2E3A\u2E3B\u2E40\u301C\u3030\u30A0\uFE31\uFE32\uFE58\uFE63\uFF0D]+/gu;
const IP = re(`${D}{1,3}\\.${D}{1,3}\\.${D}{1,3}\\.${D}{1,3}`);
const ARTICLE_ID = re(`${D}:${D}${D}${S}+${END}`);
const HASH_SHORT = re(`#${D}{1,3}${B}`);
const HASH_LONG = re(`#${D}{5,}${B}`);
const LONG_NUMBER = re(`${B}${D}{6,}${B}`);
const FILE_EXT = /\.(?:png|jpg|jpeg|bmp|webp|eps|pdf|apk|mp4)/g;
const HAS_FILE_EXT = /\.(?:png|jpg|jpeg|bmp|webp|eps|pdf|apk|mp4)/;
const NON_SPACE_RUN = re(`${NS}+`);
const BAD_PUNCT = /[#®•©™&@·º½¾¿¡§~)(\][}{|\\/*]+/gu;
// `\s+\.\s+` matched only where a whitespace run starts, its first run taken whole (same matches, linear time).
// `\b\d+\.?\d*[xх×]\d+\.?\d*\b` with its digit runs taken whole where giving back digits cannot change the
// outcome (same matches; the plain form is quadratic on long digit runs).
const DIMENSIONS = re(`${B}(?=(${D}+))\\1(?:\\.(?=(${D}*))\\2)?[xх×](?=(${D}+))\\3(?:\\.${D}*)?${B}`);
const SPACED_DOT = re(`(?<!${S})(?=(${S}+))\\1\\.${S}+`);

/** `re.sub(r"[\S]+\.(?:png|jpg|...)", "", s)` without its quadratic backtracking: a match starts where a run of
 * non-space characters starts and ends after the LAST extension in that run that has a character before it. */
function removeFileNames(s: string): string {
  if (!HAS_FILE_EXT.test(s)) return s;
  return s.replace(NON_SPACE_RUN, (run) => {
    let last = -1;
    let lastLen = 0;
    FILE_EXT.lastIndex = 1;
    for (let m = FILE_EXT.exec(run); m; m = FILE_EXT.exec(run)) {
      last = m.index;
      lastLen = m[0].length;
      FILE_EXT.lastIndex = m.index + 1;
    }
    return last < 1 ? run : run.slice(last + lastLen);
  });
}

function cleanOnce(caption: string): string {
  caption = unquotePlus(caption);
  caption = pyStrip(caption).toLowerCase();
  caption = caption.replace(/<person>/g, 'person');
  // urls
  if (TLD.test(caption) || caption.includes('http')) caption = caption.replace(URL_1, '');
  if (TLD.test(caption) || caption.includes('www:')) caption = caption.replace(URL_2, '');
  // html
  caption = soupText(caption);
  // @<nickname>
  caption = caption.replace(NICKNAME, '');
  // CJK strokes, Katakana phonetic extensions, enclosed CJK, CJK compatibility, ideographs (ext. A), Yijing
  caption = caption.replace(CJK, '');
  // all kinds of dash --> "-"
  caption = caption.replace(DASHES, '-');
  // quotes to one standard
  caption = caption.replace(/[`´«»“”¨]/g, '"').replace(/[‘’]/g, "'");
  caption = caption.replace(/&quot;?/g, '').replace(/&amp/g, '');
  // ip addresses, article ids, "\n"
  caption = caption.replace(IP, ' ');
  caption = caption.replace(ARTICLE_ID, '');
  caption = caption.replace(/\\n/g, ' ');
  // "#123", "#12345..", "123456.."
  caption = caption.replace(HASH_SHORT, '').replace(HASH_LONG, '').replace(LONG_NUMBER, '');
  caption = removeFileNames(caption);
  caption = caption.replace(/["']{2,}/g, '"');
  caption = caption.replace(/\.{2,}/g, ' ');
  caption = caption.replace(BAD_PUNCT, ' ');
  caption = caption.replace(SPACED_DOT, ' ');
  // this-is-my-cute-cat / this_is_my_cute_cat
  if ((caption.match(/[-_]/g)?.length ?? 0) > 3) caption = caption.replace(/[-_]/g, ' ');

  caption = ftfyFixText(caption);
  caption = htmlUnescape(htmlUnescape(caption));

  caption = caption.replace(re(`${B}[a-zA-Z]{1,3}${D}{3,15}${B}`), ''); // jc6640
  caption = caption.replace(re(`${B}[a-zA-Z]+${D}+[a-zA-Z]+${B}`), ''); // jc6640vc
  caption = caption.replace(re(`${B}${D}+[a-zA-Z]+${D}+${B}`), ''); // 6640vc231

  caption = caption.replace(re(`(worldwide${S}+)?(free${S}+)?shipping`), '');
  caption = caption.replace(re(`(free${S})?download(${S}free)?`), '');
  caption = caption.replace(re(`${B}click${B}${S}(?:for|on)${S}${W}+`), '');
  caption = caption.replace(re(`${B}(?:png|jpg|jpeg|bmp|webp|eps|pdf|apk|mp4)(${S}image[s]?)?`), '');
  caption = caption.replace(re(`${B}page${S}+${D}+${B}`), '');

  caption = caption.replace(re(`${B}${D}*[a-zA-Z]+${D}+[a-zA-Z]+${D}+[a-zA-Z${D}]*${B}`), ' '); // j2d1a2a...

  caption = caption.replace(DIMENSIONS, '');

  caption = caption.replace(re(`${B}${S}+:${S}+`), ': ');
  caption = caption.replace(re(`(${ND}[,./])${B}`), '$1 ');
  caption = caption.replace(re(`${S}+`), ' ');

  caption = caption.replace(re(`^["']([^]+)["']${END}`, 'u'), '$1');
  caption = caption.replace(/^['_,\-:;]/u, '');
  caption = caption.replace(re(`['_,\\-:+]${END}`, 'u'), '');
  caption = caption.replace(re(`^\\.${NS}+${END}`, 'u'), '');

  return pyStrip(caption);
}

/**
 * The caption cleaning of Skip-DiT's text-to-video (Latte) pipeline: what the official
 * `LattePipeline._text_preprocessing(text, clean_caption=True)` returns for one string, i.e. `_clean_caption`
 * applied twice. That means: `+` and %-escapes decoded (urllib `unquote_plus`), trimmed and lower-cased, URLs,
 * HTML markup (BeautifulSoup html.parser `.text`; script/style/template/rt/rp text and comments dropped, entities
 * decoded), @nicknames, CJK ideographs/strokes/enclosed forms, IP addresses, "#12"-style and long numeric ids, file
 * names and "free shipping"/"download"/"click for"/"page 3"-style boilerplate removed; dashes, quotes, dotted and
 * punctuation runs normalized; ftfy's clean-ups (without its mojibake repair) and HTML unescaping applied; all
 * whitespace runs collapsed to one space; outer quotes and stray leading/trailing punctuation removed.
 *
 * Exactness: every step follows the Python semantics (Unicode `\w`/`\d`/`\s`/`\b` of Python's `re`, Python
 * `str.strip`), and the result equals the official one on the fixture (test/fixtures/caption-clean), except where
 * the official result depends on ftfy's mojibake repair (`fix_encoding`, not reproduced: such text, e.g. "itâ€™s",
 * is left as ftfy would leave it with `fix_encoding=False`), for characters newer than Unicode 14, and for the
 * few inputs on which the official code raises (this function never throws for a string).
 *
 * @throws InvalidArgumentError when `text` is not a string.
 */
export function cleanCaption(text: string): string {
  if (typeof text !== 'string') throw InvalidArgumentError.expected('text', 'a string', text);
  return cleanOnce(cleanOnce(text));
}
