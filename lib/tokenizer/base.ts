// What T5Tokenizer and BertTokenizer share: transformers' prepare_for_model (special tokens, truncation that
// keeps room for them) and pad() (right padding, attention mask), as tensors.
import { InvalidArgumentError } from '../errors.js';
import type { AddedToken } from './trie.js';

/** Integer tensor, row-major: ids or masks of shape [batch, length]. */
export interface IntTensor {
  data: Int32Array;
  shape: [number, number];
}

export interface TokenizerEncoding {
  /** Token ids, padded with the tokenizer's padId. */
  ids: IntTensor;
  /** 1 for real tokens (special tokens included), 0 for padding. */
  mask: IntTensor;
}

export type TokenizerPadding = 'max_length' | 'longest' | false;

export interface TokenizerEncodeOptions {
  /** Row length for padding 'max_length' and the truncation limit; default tok.modelMaxLength. */
  maxLength?: number;
  /** 'max_length': every row maxLength long; 'longest' (default): as long as the longest row; false: no padding (rows must then be equally long). */
  padding?: TokenizerPadding;
  /** Cut rows to maxLength as transformers does (default true when there is a maxLength). */
  truncation?: boolean;
}

export interface TokenizerDecodeOptions {
  /** Leave out pad, eos/cls/sep, unk, mask and sentinel tokens (default true, as pipelines decode). */
  skipSpecialTokens?: boolean;
}

/** Rows above this many tokens are refused: a larger maxLength is a mistake, not a prompt. */
export const MAX_LENGTH_LIMIT = 1 << 20;

export abstract class BaseTokenizer {
  abstract readonly kind: 't5' | 'bert';
  /** Number of ids the tokenizer can produce: every id is in [0, vocabSize) (len(tokenizer) in transformers). */
  abstract readonly vocabSize: number;
  abstract readonly padId: number;
  abstract readonly unkId: number;
  /** tokenizer_config.json's model_max_length, when it gives a real one. */
  abstract readonly modelMaxLength: number | undefined;
  /** Special tokens added to each row (T5: </s>; BERT: [CLS] and [SEP]). */
  protected abstract readonly specialCount: number;
  protected abstract readonly addedById: ReadonlyMap<number, AddedToken>;
  protected abstract readonly specialIds: ReadonlySet<number>;

  /** The ids of `text` without the special tokens a row gets (transformers' tokenize + convert_tokens_to_ids). */
  protected abstract textIds(text: string): number[];
  /** build_inputs_with_special_tokens. */
  protected abstract addSpecialTokens(ids: number[]): number[];
  /** The vocabulary's string of an id that is not an added token. */
  protected abstract baseToken(id: number): string;
  /** convert_tokens_to_string. */
  protected abstract tokensToString(tokens: string[]): string;
  protected abstract readonly cleanUpSpaces: boolean;

  /**
   * One row as transformers' `tok(text, truncation=..., max_length=...)['input_ids']`: special tokens added; with
   * truncation, the text's ids are cut so the row fits maxLength.
   */
  encodeIds(text: string, options: { maxLength?: number; truncation?: boolean } = {}): number[] {
    if (typeof text !== 'string') throw InvalidArgumentError.expected('text', 'a string', text);
    const { maxLength, truncation } = this.#limits(options.maxLength, options.truncation);
    return this.#row(text, maxLength, truncation);
  }

  #row(text: string, maxLength: number | undefined, truncation: boolean): number[] {
    // Lone surrogates (no Unicode text has them) become U+FFFD, as they would on their way to UTF-8.
    let ids = this.textIds((text as unknown as { toWellFormed(): string }).toWellFormed());
    const total = ids.length + this.specialCount;
    if (truncation && maxLength !== undefined && total > maxLength) ids = ids.slice(0, maxLength - this.specialCount);
    return this.addSpecialTokens(ids);
  }

  #limits(maxLength: unknown, truncation: unknown): { maxLength: number | undefined; truncation: boolean } {
    if (truncation !== undefined && typeof truncation !== 'boolean') throw InvalidArgumentError.expected('options.truncation', 'a boolean', truncation);
    if (maxLength !== undefined && (!Number.isInteger(maxLength) || (maxLength as number) < 1 || (maxLength as number) > MAX_LENGTH_LIMIT)) {
      throw InvalidArgumentError.expected('options.maxLength', `a positive integer (at most ${MAX_LENGTH_LIMIT})`, maxLength);
    }
    const length = (maxLength as number | undefined) ?? this.modelMaxLength;
    const cut = truncation ?? true;
    // transformers cannot truncate below this (it logs an error and returns the row whole, longer than max_length).
    if (cut && length !== undefined && length <= this.specialCount) {
      throw InvalidArgumentError.expected(
        'options.maxLength', `at least ${this.specialCount + 1} with truncation (room for a token and the ${this.specialCount} special token${this.specialCount > 1 ? 's' : ''})`, length);
    }
    return { maxLength: length, truncation: cut };
  }

  /** Tokenizes a batch into [B, L] ids and attention mask, as `tok(texts, padding=..., max_length=..., truncation=...)`. */
  encode(texts: string[], options: TokenizerEncodeOptions = {}): TokenizerEncoding {
    if (!Array.isArray(texts) || texts.length === 0) throw InvalidArgumentError.expected('texts', 'a non-empty array of strings', texts);
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw InvalidArgumentError.expected(`texts[${i}]`, 'a string', t);
    });
    if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', 'an object', options);
    const padding = options.padding === undefined ? 'longest' : options.padding;
    if (padding !== 'max_length' && padding !== 'longest' && padding !== false) {
      throw InvalidArgumentError.expected('options.padding', "'max_length', 'longest' or false", padding);
    }
    const { maxLength, truncation } = this.#limits(options.maxLength, options.truncation);
    if (padding === 'max_length' && maxLength === undefined) {
      throw InvalidArgumentError.expected('options.maxLength', "a positive integer with padding 'max_length' (the tokenizer config gives no model_max_length)", undefined);
    }
    const rows = texts.map((t) => this.#row(t, maxLength, truncation));
    const longest = rows.reduce((m, r) => Math.max(m, r.length), 0);
    let L: number;
    if (padding === 'max_length') {
      L = maxLength!;
      const over = rows.findIndex((r) => r.length > L);
      if (over >= 0) {
        throw new InvalidArgumentError(
          `Expected rows of at most ${L} tokens for options.maxLength with padding 'max_length' but texts[${over}] has ${rows[over].length}; pass truncation: true or a larger maxLength`);
      }
    } else if (padding === 'longest') {
      L = longest;
    } else {
      const odd = rows.findIndex((r) => r.length !== rows[0].length);
      if (odd >= 0) {
        throw new InvalidArgumentError(
          `Expected rows of equal length with padding false but texts[0] has ${rows[0].length} tokens and texts[${odd}] ${rows[odd].length}; pass padding: 'longest' or 'max_length'`);
      }
      L = longest;
    }
    const B = rows.length;
    const ids = new Int32Array(B * L).fill(this.padId);
    const mask = new Int32Array(B * L);
    rows.forEach((r, b) => {
      ids.set(r, b * L);
      mask.fill(1, b * L, b * L + r.length);
    });
    return { ids: { data: ids, shape: [B, L] }, mask: { data: mask, shape: [B, L] } };
  }

  #checkIds(ids: unknown): number[] {
    if (!(Array.isArray(ids) || ArrayBuffer.isView(ids))) throw InvalidArgumentError.expected('ids', 'an array of token ids (one row)', ids);
    const list = Array.from(ids as ArrayLike<unknown>);
    list.forEach((id, i) => {
      if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= this.vocabSize) {
        throw InvalidArgumentError.expected(`ids[${i}]`, `an integer id in [0, ${this.vocabSize})`, id);
      }
    });
    return list as number[];
  }

  /** The token string of an id (transformers' convert_ids_to_tokens). */
  idToToken(id: number): string {
    const [checked] = this.#checkIds([id]);
    return this.addedById.get(checked)?.content ?? this.baseToken(checked);
  }

  /**
   * Text of one row of ids, as transformers' `decode(ids, skip_special_tokens=...)` with its defaults
   * (clean_up_tokenization_spaces from the config, default true; added tokens joined with spaces).
   */
  decode(ids: ArrayLike<number>, options: TokenizerDecodeOptions = {}): string {
    const list = this.#checkIds(ids);
    const skip = options.skipSpecialTokens ?? true;
    if (typeof skip !== 'boolean') throw InvalidArgumentError.expected('options.skipSpecialTokens', 'a boolean', skip);
    const parts: string[] = [];
    let run: string[] = [];
    const flush = () => {
      if (run.length) {
        const s = this.tokensToString(run);
        if (s.length > 0) parts.push(s);
      }
      run = [];
    };
    for (const id of list) {
      if (skip && this.specialIds.has(id)) continue;
      const added = this.addedById.get(id);
      // _decode: added tokens that are not special, and special ones past the base vocabulary, stand apart.
      if (added && this.isLegacyAddedToken(added)) {
        flush();
        parts.push(added.content);
      } else run.push(added ? added.content : this.baseToken(id));
    }
    if (run.length) parts.push(this.tokensToString(run));
    const text = parts.join(' ');
    return this.cleanUpSpaces ? cleanUpTokenization(text) : text;
  }

  /** transformers' legacy_added_tokens: added tokens that are not special, and additional special tokens past the base vocabulary. */
  protected abstract isLegacyAddedToken(token: AddedToken): boolean;
}

/** PreTrainedTokenizerBase.clean_up_tokenization. */
export function cleanUpTokenization(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

