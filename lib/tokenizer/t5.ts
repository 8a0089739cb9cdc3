// transformers' T5Tokenizer (models/t5/tokenization_t5.py, v4.39; MT5Tokenizer is the same class) over
// SentencePiece: added tokens cut out of the text first, each other chunk encoded by sentencepiece on its own,
// </s> appended unless the ids already end with it; legacy=false handled as that file does.
import { CheckpointError } from '../errors.js';
import { BaseTokenizer } from './base.js';
import { SentencePiece } from './sentencepiece.js';
import { strip } from './pytext.js';
import { splitAddedTokens, Trie, type AddedToken } from './trie.js';

const UNDERLINE = '\u2581'; // '▁', SentencePiece's visible space

export interface T5Spec {
  /** Where the pieces came from, for errors. */
  file: string;
  sp: SentencePiece;
  /** Piece strings by id. */
  pieces: string[];
  added: AddedToken[];
  /** all_special_tokens: eos, unk, pad and the additional special tokens (the sentinels). */
  specialTokens: string[];
  eosToken: string;
  unkToken: string;
  padToken: string;
  legacy: boolean;
  addPrefixSpace: boolean;
  modelMaxLength: number | undefined;
  cleanUpSpaces: boolean;
}

export class T5Tokenizer extends BaseTokenizer {
  readonly kind = 't5' as const;
  readonly vocabSize: number;
  readonly padId: number;
  readonly unkId: number;
  readonly eosId: number;
  /** transformers' `legacy` flag (default true): false drops the dummy prefix after special tokens. */
  readonly legacy: boolean;
  readonly modelMaxLength: number | undefined;
  protected readonly specialCount = 1;
  protected readonly addedById: ReadonlyMap<number, AddedToken>;
  protected readonly specialIds: ReadonlySet<number>;
  protected readonly cleanUpSpaces: boolean;
  #sp: SentencePiece;
  #pieces: string[];
  #added: Map<string, AddedToken>;
  #trie = new Trie();
  #specialTokens: Set<string>;
  #unkToken: string;
  #unkLength = 0;
  #addPrefixSpace: boolean;

  constructor(spec: T5Spec) {
    super();
    this.#sp = spec.sp;
    this.#pieces = spec.pieces;
    this.legacy = spec.legacy;
    this.#addPrefixSpace = spec.addPrefixSpace;
    this.modelMaxLength = spec.modelMaxLength;
    this.cleanUpSpaces = spec.cleanUpSpaces;
    this.#added = new Map(spec.added.map((t) => [t.content, t]));
    this.addedById = new Map(spec.added.map((t) => [t.id, t]));
    for (const t of spec.added) this.#trie.add(t.content);
    this.#specialTokens = new Set(spec.specialTokens);
    const idOf = (token: string, role: string): number => {
      const id = this.#added.get(token)?.id;
      if (id === undefined) throw new CheckpointError(`The ${role} token '${token}' of '${spec.file}' is neither a piece nor an added token`);
      return id;
    };
    this.eosId = idOf(spec.eosToken, 'eos');
    this.unkId = idOf(spec.unkToken, 'unk');
    this.padId = idOf(spec.padToken, 'pad');
    this.specialIds = new Set(spec.specialTokens.filter((t) => this.#added.has(t)).map((t) => this.#added.get(t)!.id));
    this.vocabSize = spec.added.reduce((m, t) => Math.max(m, t.id + 1), this.#pieces.length);
    this.#unkToken = spec.unkToken;
    if (!this.legacy) this.#unkLength = this.#sp.encode(this.#unkToken).length;
  }

  protected textIds(text: string): number[] {
    if (this.legacy || text.length === 0) return this.#tokenize(text).map((t) => t.id);
    // legacy=false: a literal '▁' counts as a space, and only the start of the text gets the prefix '▁'.
    let t = text.replaceAll(UNDERLINE, ' ');
    if (this.#addPrefixSpace) t = UNDERLINE + t;
    const tokens = this.#tokenize(t);
    if (tokens.length > 1 && tokens[0].token === UNDERLINE && tokens[1].added && this.#specialTokens.has(tokens[1].token)) tokens.shift();
    return tokens.map((x) => x.id);
  }

  /** PreTrainedTokenizer.tokenize + convert_tokens_to_ids, keeping the token strings the legacy=false rule looks at. */
  #tokenize(text: string): { id: number; token: string; added: boolean }[] {
    const out: { id: number; token: string; added: boolean }[] = [];
    for (const chunk of splitAddedTokens(text, this.#trie, this.#added)) {
      if (chunk.token) out.push({ id: chunk.token.id, token: chunk.token.content, added: true });
      else for (const id of this.#encodeChunk(chunk.text)) out.push({ id, token: this.#pieces[id], added: false });
    }
    return out;
  }

  /** T5Tokenizer._tokenize. */
  #encodeChunk(text: string): number[] {
    if (this.legacy || !(text.startsWith(UNDERLINE) || text.startsWith(' '))) return this.#sp.encode(text);
    // Without the dummy prefix sentencepiece drops a leading '▁'; encoding after the unk token keeps it.
    const ids = this.#sp.encode(this.#unkToken + text);
    return ids.length >= this.#unkLength ? ids.slice(this.#unkLength) : ids;
  }

  protected addSpecialTokens(ids: number[]): number[] {
    return ids.length > 0 && ids[ids.length - 1] === this.eosId ? ids : [...ids, this.eosId];
  }

  protected baseToken(id: number): string {
    if (id >= this.#pieces.length) throw new CheckpointError(`id ${id} is past the ${this.#pieces.length} pieces and no added token`);
    return this.#pieces[id];
  }

  protected isLegacyAddedToken(token: AddedToken): boolean {
    return !this.#specialTokens.has(token.content) || token.id >= this.#pieces.length;
  }

  /** T5Tokenizer.convert_tokens_to_string (sentencepiece's decode of pieces: '▁' is a space). */
  protected tokensToString(tokens: string[]): string {
    const toks = [...tokens];
    if (toks[0].startsWith(UNDERLINE) && this.#addPrefixSpace) toks[0] = toks[0].slice(1);
    let out = '';
    let run: string[] = [];
    let prevSpecial = false;
    for (const t of toks) {
      if (this.#specialTokens.has(t)) {
        if (!prevSpecial) out += ' ';
        out += decodePieces(run, !this.legacy) + t;
        prevSpecial = true;
        run = [];
      } else {
        run.push(t);
        prevSpecial = false;
      }
    }
    out += decodePieces(run, !this.legacy);
    return strip(out);
  }
}

/** sentencepiece decode of pieces: concatenated, '▁' as space, the dummy prefix's leading space removed. */
function decodePieces(pieces: string[], keepLeadingSpace: boolean): string {
  const s = pieces.join('').replaceAll(UNDERLINE, ' ');
  return !keepLeadingSpace && s.startsWith(' ') ? s.slice(1) : s;
}

/** One entry of tokenizer_config.json's added_tokens_decoder or tokenizer.json's added_tokens. */
export function addedTokenFrom(id: number, v: Record<string, unknown>, file: string): AddedToken {
  if (typeof v.content !== 'string' || v.content === '') throw new CheckpointError(`'${file}': added token ${id} has no content string`);
  const special = v.special === true;
  return {
    id,
    content: v.content,
    lstrip: v.lstrip === true,
    rstrip: v.rstrip === true,
    singleWord: v.single_word === true,
    special,
    normalized: typeof v.normalized === 'boolean' ? v.normalized : !special,
  };
}

/**
 * The added tokens of T5Tokenizer.__init__ from a spiece.model: the sentinels <extra_id_i> at
 * pieces + extra_ids - 1 - i (eating whitespace on both sides), the config's added_tokens_decoder over them,
 * then eos / unk / pad and the other additional special tokens at their piece ids (or new ids past the end).
 */
export function t5AddedTokens(options: {
  file: string;
  pieces: string[];
  extraIds: number;
  additionalSpecialTokens: string[] | undefined;
  addedTokensDecoder: AddedToken[];
  eosToken: string;
  unkToken: string;
  padToken: string;
}): { added: AddedToken[]; specialTokens: string[] } {
  const { pieces, extraIds } = options;
  let additional = options.additionalSpecialTokens ? [...options.additionalSpecialTokens] : undefined;
  let sentinels: string[];
  const sentinelNames = Array.from({ length: extraIds }, (_, i) => `<extra_id_${i}>`);
  if (additional) {
    sentinels = additional.filter((t) => t.includes('<extra_id_'));
    if (sentinels.length < 1) additional.push(...sentinelNames);
    else if (extraIds > 0 && extraIds !== sentinels.length) {
      throw new CheckpointError(`'${options.file}': extra_ids is ${extraIds} but additional_special_tokens lists ${sentinels.length} <extra_id_*> tokens`);
    }
  } else {
    sentinels = sentinelNames;
    additional = sentinelNames;
  }
  const byId = new Map<number, AddedToken>();
  sentinels.forEach((_, i) => {
    const id = pieces.length - 1 + extraIds - i;
    byId.set(id, { id, content: `<extra_id_${i}>`, lstrip: true, rstrip: true, singleWord: false, special: true, normalized: false });
  });
  for (const t of options.addedTokensDecoder) byId.set(t.id, t);
  const specialTokens = [...new Set([options.eosToken, options.unkToken, options.padToken, ...additional])];
  const pieceIds = new Map<string, number>();
  pieces.forEach((p, i) => {
    if (!pieceIds.has(p)) pieceIds.set(p, i);
  });
  const contents = () => new Map([...byId.values()].map((t) => [t.content, t.id]));
  for (const content of specialTokens) {
    const enc = contents();
    if (enc.has(content)) continue;
    // _add_tokens: an existing vocabulary entry keeps its id, a new one goes after everything (len(tokenizer)).
    const known = new Set([...pieces, ...enc.keys()]);
    const id = pieceIds.get(content) ?? known.size;
    byId.set(id, { id, content, lstrip: false, rstrip: false, singleWord: false, special: true, normalized: false });
  }
  return { added: [...byId.values()], specialTokens };
}
