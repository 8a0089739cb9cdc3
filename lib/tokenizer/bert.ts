// transformers' BertTokenizer (models/bert/tokenization_bert.py, v4.39): do_lower_case lower-cases the text
// around the special tokens, the special tokens are cut out, then BasicTokenizer (clean, CJK spacing, NFC,
// whitespace split, lower case and accent stripping, punctuation split) and greedy WordPiece.
// Written here because @huggingface/tokenizers' BertNormalizer skips the NFC step, so cased text with
// combining accents came out different (see README); this follows the Python line by line.
import { BaseTokenizer } from './base.js';
import { chars, split, strip } from './pytext.js';
import { splitAddedTokens, Trie, type AddedToken } from './trie.js';

export interface BertSpec {
  file: string;
  /** Token -> id (the last line wins for a repeated token, as the Python dict does). */
  vocab: Map<string, number>;
  /** Id -> token. */
  tokens: Map<number, string>;
  added: AddedToken[];
  /** all_special_tokens in transformers' order: unk, sep, pad, cls, mask, additional. */
  specialTokens: string[];
  unkToken: string;
  sepToken: string;
  padToken: string;
  clsToken: string;
  maskToken: string | undefined;
  lowercase: boolean;
  /** null: strip accents when lower-casing (transformers' default). */
  stripAccents: boolean | null;
  tokenizeChineseChars: boolean;
  doBasicTokenize: boolean;
  continuingPrefix: string;
  maxInputCharsPerWord: number;
  modelMaxLength: number | undefined;
  cleanUpSpaces: boolean;
}

const PUNCT = /^\p{P}$/u;
const CONTROL = /^\p{C}$/u;
const SPACE_SEPARATOR = /^\p{Zs}$/u;
const NONSPACING_MARK = /\p{Mn}/gu;

function isPunctuation(c: string): boolean {
  const cp = c.codePointAt(0)!;
  // ASCII symbols count as punctuation although Unicode calls some of them S* ('$', '^', '`', ...).
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return PUNCT.test(c);
}
const isWhitespace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || SPACE_SEPARATOR.test(c);
const isControl = (c: string): boolean => c !== '\t' && c !== '\n' && c !== '\r' && CONTROL.test(c);

/** The CJK Unified Ideograph blocks of BasicTokenizer._is_chinese_char (not kana, not hangul). */
function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

export class BertTokenizer extends BaseTokenizer {
  readonly kind = 'bert' as const;
  readonly vocabSize: number;
  readonly padId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly maskId: number | undefined;
  /** do_lower_case. */
  readonly lowercase: boolean;
  readonly modelMaxLength: number | undefined;
  protected readonly specialCount = 2;
  protected readonly addedById: ReadonlyMap<number, AddedToken>;
  protected readonly specialIds: ReadonlySet<number>;
  protected readonly cleanUpSpaces: boolean;
  #spec: BertSpec;
  #added: Map<string, AddedToken>;
  #trie = new Trie();
  #specialTokens: Set<string>;
  /** What do_lower_case leaves as it is: special tokens, and added tokens that are not normalized. */
  #keepCase: string[];

  constructor(spec: BertSpec) {
    super();
    this.#spec = spec;
    this.lowercase = spec.lowercase;
    this.modelMaxLength = spec.modelMaxLength;
    this.cleanUpSpaces = spec.cleanUpSpaces;
    this.#added = new Map(spec.added.map((t) => [t.content, t]));
    this.addedById = new Map(spec.added.map((t) => [t.id, t]));
    for (const t of spec.added) this.#trie.add(t.content);
    this.#specialTokens = new Set(spec.specialTokens);
    const idOf = (token: string) => this.#added.get(token)?.id ?? spec.vocab.get(token) ?? spec.vocab.get(spec.unkToken)!;
    this.unkId = idOf(spec.unkToken);
    this.sepId = idOf(spec.sepToken);
    this.padId = idOf(spec.padToken);
    this.clsId = idOf(spec.clsToken);
    this.maskId = spec.maskToken === undefined ? undefined : idOf(spec.maskToken);
    this.specialIds = new Set(spec.specialTokens.map(idOf));
    let maxId = 0;
    for (const id of spec.tokens.keys()) maxId = Math.max(maxId, id);
    for (const t of spec.added) maxId = Math.max(maxId, t.id);
    this.vocabSize = maxId + 1;
    this.#keepCase = [...spec.specialTokens, ...spec.added.filter((t) => !t.special && t.normalized).map((t) => t.content)];
  }

  protected textIds(text: string): number[] {
    // PreTrainedTokenizer.tokenize: re.sub('(specials)|(.+?)', ...) lower-cases one character at a time
    // (never '\n', which '.' does not match), leaving the special tokens as written.
    const t = this.lowercase ? lowerOutside(text, this.#keepCase) : text;
    const ids: number[] = [];
    for (const chunk of splitAddedTokens(t, this.#trie, this.#added)) {
      if (chunk.token) ids.push(chunk.token.id);
      else for (const tok of this.#tokenize(chunk.text)) ids.push(this.#added.get(tok)?.id ?? this.#spec.vocab.get(tok) ?? this.unkId);
    }
    return ids;
  }

  /** BertTokenizer._tokenize. */
  #tokenize(text: string): string[] {
    if (!this.#spec.doBasicTokenize) return this.#wordpiece(text);
    const out: string[] = [];
    for (const token of this.#basic(text)) out.push(...this.#wordpiece(token));
    return out;
  }

  /** BasicTokenizer.tokenize, never_split = the special tokens. */
  #basic(text: string): string[] {
    const spec = this.#spec;
    let cleaned = '';
    for (const c of chars(text)) {
      const cp = c.codePointAt(0)!;
      if (cp === 0 || cp === 0xfffd || isControl(c)) continue;
      cleaned += isWhitespace(c) ? ' ' : c;
    }
    if (spec.tokenizeChineseChars) {
      let spaced = '';
      for (const c of chars(cleaned)) spaced += isChineseChar(c.codePointAt(0)!) ? ` ${c} ` : c;
      cleaned = spaced;
    }
    const words: string[] = [];
    for (let token of split(cleaned.normalize('NFC'))) {
      const never = this.#specialTokens.has(token);
      if (!never) {
        if (spec.lowercase) {
          token = token.toLowerCase();
          if (spec.stripAccents !== false) token = stripAccents(token);
        } else if (spec.stripAccents) token = stripAccents(token);
      }
      if (never) words.push(token);
      else words.push(...splitOnPunctuation(token));
    }
    return split(words.join(' '));
  }

  /** WordpieceTokenizer.tokenize: greedy longest match; a word with an unmatched position is one unk. */
  #wordpiece(text: string): string[] {
    const { vocab, unkToken, continuingPrefix, maxInputCharsPerWord } = this.#spec;
    const out: string[] = [];
    for (const word of split(text)) {
      const cs = chars(word);
      if (cs.length > maxInputCharsPerWord) {
        out.push(unkToken);
        continue;
      }
      const pieces: string[] = [];
      let start = 0;
      let bad = false;
      while (start < cs.length) {
        let end = cs.length;
        let found: string | undefined;
        while (start < end) {
          const sub = (start > 0 ? continuingPrefix : '') + cs.slice(start, end).join('');
          if (vocab.has(sub)) {
            found = sub;
            break;
          }
          end -= 1;
        }
        if (found === undefined) {
          bad = true;
          break;
        }
        pieces.push(found);
        start = end;
      }
      if (bad) out.push(unkToken);
      else out.push(...pieces);
    }
    return out;
  }

  protected addSpecialTokens(ids: number[]): number[] {
    return [this.clsId, ...ids, this.sepId];
  }

  protected baseToken(id: number): string {
    return this.#spec.tokens.get(id) ?? this.#spec.unkToken; // ids_to_tokens.get(index, unk_token)
  }

  protected isLegacyAddedToken(token: AddedToken): boolean {
    return !this.#specialTokens.has(token.content) || token.id >= this.#spec.vocab.size;
  }

  /** BertTokenizer.convert_tokens_to_string. */
  protected tokensToString(tokens: string[]): string {
    return strip(tokens.join(' ').replaceAll(` ${this.#spec.continuingPrefix}`, ''));
  }
}

function stripAccents(s: string): string {
  return s.normalize('NFD').replace(NONSPACING_MARK, '');
}

function splitOnPunctuation(token: string): string[] {
  const out: string[] = [];
  let startNew = true;
  for (const c of chars(token)) {
    if (isPunctuation(c)) {
      out.push(c);
      startNew = true;
    } else {
      if (startNew) out.push('');
      startNew = false;
      out[out.length - 1] += c;
    }
  }
  return out;
}

/** Lower-cases `text` one code point at a time except where one of `keep` starts (first listed wins) and '\n'. */
function lowerOutside(text: string, keep: string[]): string {
  let out = '';
  let i = 0;
  outer: while (i < text.length) {
    for (const k of keep) {
      if (k && text.startsWith(k, i)) {
        out += k;
        i += k.length;
        continue outer;
      }
    }
    const c = String.fromCodePoint(text.codePointAt(i)!);
    out += c === '\n' ? c : c.toLowerCase();
    i += c.length;
  }
  return out;
}
