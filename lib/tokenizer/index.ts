// loadTokenizer(): the tokenizer of a Hugging Face model folder (or one of its files), as transformers'
// slow T5Tokenizer / BertTokenizer would build it, with the same ids.
import path from 'node:path';
import { CheckpointError, InvalidArgumentError } from '../errors.js';
import { BertTokenizer } from './bert.js';
import { MAX_LENGTH_LIMIT } from './base.js';
import { MAX_VOCAB_BYTES, MAX_VOCAB_ENTRIES, readCapped, readJsonObject, readText, statPath } from './files.js';
import { SentencePiece } from './sentencepiece.js';
import { buildUnigramModel, parseSpmModel, PieceType, withoutDummyPrefix, type SpmPiece } from './spm-model.js';
import { addedTokenFrom, T5Tokenizer, t5AddedTokens } from './t5.js';
import type { AddedToken } from './trie.js';
import { localPath, type HubLoadOptions } from '../hub/uri.js';

export { T5Tokenizer } from './t5.js';
export { BertTokenizer } from './bert.js';
export type { IntTensor, TokenizerEncoding, TokenizerEncodeOptions, TokenizerDecodeOptions, TokenizerPadding } from './base.js';

export type Tokenizer = T5Tokenizer | BertTokenizer;
export type TokenizerKind = Tokenizer['kind'];

export interface LoadTokenizerOptions extends HubLoadOptions {
  /** BERT: do_lower_case. Default: tokenizer_config.json's, else the tokenizer.json normalizer's, else true. */
  lowercase?: boolean;
  /** T5: transformers' `legacy` flag. Default: tokenizer_config.json's, else true (transformers' default). */
  legacy?: boolean;
}

type Config = Record<string, unknown>;

/**
 * Loads a tokenizer from a folder (tokenizer_config.json and special_tokens_map.json are read when present,
 * as from_pretrained does; spiece.model or vocab.txt is preferred over tokenizer.json) or from one file
 * (spiece.model / *.model, vocab.txt / *.txt, tokenizer.json) with transformers' constructor defaults.
 */
export async function loadTokenizer(dirOrFile: string, options: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  if (typeof dirOrFile !== 'string' || dirOrFile.length === 0) throw InvalidArgumentError.expected('path', 'a tokenizer folder or file path', dirOrFile);
  if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', 'an object', options);
  for (const key of ['lowercase', 'legacy'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') throw InvalidArgumentError.expected(`options.${key}`, 'a boolean', options[key]);
  }
  dirOrFile = await localPath(dirOrFile, { weights: false }, options);
  const st = statPath(dirOrFile);
  if (!st) throw new CheckpointError(`Cannot open '${dirOrFile}': no such file or folder`);

  let file: string;
  let format: 'spm' | 'vocab' | 'json';
  let config: Config = {};
  let kindFromConfig: TokenizerKind | undefined;
  if (st.isDirectory()) {
    const at = (name: string) => path.join(dirOrFile, name);
    const exists = (name: string) => statPath(at(name)) !== undefined;
    if (exists('tokenizer_config.json')) config = readJsonObject(at('tokenizer_config.json'));
    if (exists('special_tokens_map.json')) config = { ...config, ...readJsonObject(at('special_tokens_map.json')) };
    kindFromConfig = kindOfClass(config.tokenizer_class, at('tokenizer_config.json'));
    const candidates: [string, 'spm' | 'vocab' | 'json'][] = kindFromConfig === 't5'
      ? [['spiece.model', 'spm'], ['tokenizer.json', 'json']]
      : kindFromConfig === 'bert'
        ? [['vocab.txt', 'vocab'], ['tokenizer.json', 'json']]
        : [['spiece.model', 'spm'], ['vocab.txt', 'vocab'], ['tokenizer.json', 'json']];
    const found = candidates.find(([name]) => exists(name));
    if (!found) {
      throw new CheckpointError(`'${dirOrFile}' holds no tokenizer: expected ${candidates.map(([n]) => n).join(' or ')}`);
    }
    file = at(found[0]);
    format = found[1];
  } else {
    file = dirOrFile;
    const ext = path.extname(file).toLowerCase();
    if (ext === '.model') format = 'spm';
    else if (ext === '.txt') format = 'vocab';
    else if (ext === '.json' && path.basename(file) !== 'tokenizer_config.json' && path.basename(file) !== 'special_tokens_map.json') format = 'json';
    else {
      throw InvalidArgumentError.expected('path', 'a tokenizer folder, a SentencePiece .model, a WordPiece vocab .txt or a tokenizer.json', dirOrFile);
    }
  }

  if (format === 'spm') return loadT5FromSpm(file, config, options);
  if (format === 'vocab') return loadBertFromVocab(file, config, options);
  const json = readJsonObject(file, MAX_VOCAB_BYTES);
  const model = json.model as Config | undefined;
  const type = typeof model === 'object' && model !== null ? model.type : undefined;
  if (type === 'Unigram' && kindFromConfig !== 'bert') return loadT5FromJson(file, json, config, options);
  if (type === 'WordPiece' && kindFromConfig !== 't5') return loadBertFromJson(file, json, config, options);
  throw new CheckpointError(`'${file}' holds a ${JSON.stringify(type ?? null)} model; expected a Unigram (T5 / mT5) or WordPiece (BERT) tokenizer${kindFromConfig ? ` for tokenizer_class ${String(config.tokenizer_class)}` : ''}`);
}

function kindOfClass(cls: unknown, file: string): TokenizerKind | undefined {
  if (cls === undefined || cls === null) return undefined;
  if (typeof cls === 'string' && /^M?T5Tokenizer(Fast)?$/.test(cls)) return 't5';
  if (typeof cls === 'string' && /^BertTokenizer(Fast)?$/.test(cls)) return 'bert';
  throw new CheckpointError(`'${file}' names tokenizer_class ${JSON.stringify(cls)}; supported: T5Tokenizer, MT5Tokenizer, BertTokenizer (and their Fast names)`);
}

// ---- config values

/** A special token as configs write it: a string, or an AddedToken object with `content`. */
function tokenName(value: unknown, fallback: string): string {
  if (typeof value === 'string' && value) return value;
  if (typeof value === 'object' && value !== null && typeof (value as Config).content === 'string' && (value as Config).content) return (value as Config).content as string;
  return fallback;
}

function tokenList(value: unknown, key: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new CheckpointError(`${key} is ${typeof value}, expected a list of tokens`);
  return value.map((v) => tokenName(v, '')).filter((v) => v);
}

function boolOr(value: unknown, fallback: boolean): boolean {
  return typeof value === 'boolean' ? value : fallback;
}

function checkKind(options: LoadTokenizerOptions, kind: TokenizerKind): void {
  if (kind === 't5' && options.lowercase !== undefined) throw InvalidArgumentError.expected('options.lowercase', 'undefined for a T5 (SentencePiece) tokenizer, which does not lower-case', options.lowercase);
  if (kind === 'bert' && options.legacy !== undefined) throw InvalidArgumentError.expected('options.legacy', 'undefined for a BERT (WordPiece) tokenizer; it is a T5 option', options.legacy);
}

function common(config: Config): { modelMaxLength: number | undefined; cleanUpSpaces: boolean } {
  const m = config.model_max_length;
  // transformers writes 1e30 (VERY_LARGE_INTEGER) for "no limit".
  const modelMaxLength = typeof m === 'number' && Number.isInteger(m) && m > 0 && m <= MAX_LENGTH_LIMIT ? m : undefined;
  return { modelMaxLength, cleanUpSpaces: boolOr(config.clean_up_tokenization_spaces, true) };
}

/** tokenizer_config.json's added_tokens_decoder: { "id": { content, lstrip, rstrip, ... } }. */
function addedTokensDecoder(config: Config, file: string): AddedToken[] {
  const dec = config.added_tokens_decoder;
  if (dec === undefined || dec === null) return [];
  if (typeof dec !== 'object' || Array.isArray(dec)) throw new CheckpointError(`'${file}': added_tokens_decoder is not an object`);
  return Object.entries(dec as Config).map(([k, v]) => {
    const id = Number(k);
    if (!Number.isInteger(id) || id < 0 || typeof v !== 'object' || v === null) throw new CheckpointError(`'${file}': added_tokens_decoder entry ${JSON.stringify(k)} is not { id: token }`);
    return addedTokenFrom(id, v as Config, file);
  });
}

/** tokenizer.json's added_tokens list. */
function jsonAddedTokens(json: Config, file: string): AddedToken[] {
  const list = json.added_tokens ?? [];
  if (!Array.isArray(list)) throw new CheckpointError(`'${file}': added_tokens is not a list`);
  return list.map((v, i) => {
    if (typeof v !== 'object' || v === null || !Number.isInteger((v as Config).id) || ((v as Config).id as number) < 0) {
      throw new CheckpointError(`'${file}': added_tokens[${i}] has no id`);
    }
    return addedTokenFrom((v as Config).id as number, v as Config, file);
  });
}

// ---- T5

async function loadT5FromSpm(file: string, config: Config, options: LoadTokenizerOptions): Promise<T5Tokenizer> {
  checkKind(options, 't5');
  const bytes = readCapped(file, MAX_VOCAB_BYTES);
  const model = parseSpmModel(bytes, file);
  const legacy = options.legacy ?? boolOr(config.legacy, true);
  const sp = await SentencePiece.load(legacy ? bytes : withoutDummyPrefix(bytes), file, file);
  const extraIds = config.extra_ids ?? 100;
  if (!Number.isInteger(extraIds) || (extraIds as number) < 0 || (extraIds as number) > 1_000_000) {
    throw new CheckpointError(`extra_ids is ${JSON.stringify(extraIds)}; expected a non-negative integer`);
  }
  const names = { eosToken: tokenName(config.eos_token, '</s>'), unkToken: tokenName(config.unk_token, '<unk>'), padToken: tokenName(config.pad_token, '<pad>') };
  const pieces = model.pieces.map((p) => p.piece);
  const { added, specialTokens } = t5AddedTokens({
    file, pieces, extraIds: extraIds as number,
    additionalSpecialTokens: tokenList(config.additional_special_tokens, 'additional_special_tokens'),
    addedTokensDecoder: addedTokensDecoder(config, file),
    ...names,
  });
  return new T5Tokenizer({ file, sp, pieces, added, specialTokens, ...names, legacy, addPrefixSpace: boolOr(config.add_prefix_space, true), ...common(config) });
}

async function loadT5FromJson(file: string, json: Config, config: Config, options: LoadTokenizerOptions): Promise<T5Tokenizer> {
  checkKind(options, 't5');
  const model = json.model as Config;
  const vocab = model.vocab;
  if (!Array.isArray(vocab) || vocab.length === 0) throw new CheckpointError(`'${file}': model.vocab is not a list of [piece, score]`);
  if (vocab.length > MAX_VOCAB_ENTRIES) throw new CheckpointError(`'${file}' has ${vocab.length} pieces; a vocabulary is expected to have at most ${MAX_VOCAB_ENTRIES}`);
  const unkId = model.unk_id;
  if (!Number.isInteger(unkId) || (unkId as number) < 0 || (unkId as number) >= vocab.length) throw new CheckpointError(`'${file}': model.unk_id ${JSON.stringify(unkId)} is not a piece`);
  const addedJson = jsonAddedTokens(json, file);
  const control = new Set(addedJson.filter((t) => t.special).map((t) => t.id));
  const pieces: SpmPiece[] = vocab.map((entry, i) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') throw new CheckpointError(`'${file}': model.vocab[${i}] is not [piece, score]`);
    // Special added tokens are control pieces in the SentencePiece model they were converted from: never matched in text.
    const type = i === unkId ? PieceType.UNKNOWN : control.has(i) ? PieceType.CONTROL : PieceType.NORMAL;
    return { piece: entry[0], score: entry[1], type };
  });
  const legacy = options.legacy ?? boolOr(config.legacy, true);
  const charsmap = findPrecompiledCharsmap(json.normalizer);
  const built = buildUnigramModel({
    pieces, byteFallback: model.byte_fallback === true, precompiledCharsmap: charsmap, addDummyPrefix: legacy && metaspacePrefix(json.pre_tokenizer),
  });
  parseSpmModel(built, file);
  const sp = await SentencePiece.load(built, file, file);
  const names = { eosToken: tokenName(config.eos_token, '</s>'), unkToken: tokenName(config.unk_token, pieces[unkId as number].piece), padToken: tokenName(config.pad_token, '<pad>') };
  const added = new Map(addedJson.map((t) => [t.content, t]));
  const pieceIds = new Map(pieces.map((p, i) => [p.piece, i]));
  for (const name of [names.eosToken, names.unkToken, names.padToken]) {
    const id = pieceIds.get(name);
    if (!added.has(name) && id !== undefined) added.set(name, { id, content: name, lstrip: false, rstrip: false, singleWord: false, special: true, normalized: false });
  }
  const specialTokens = [...new Set([names.eosToken, names.unkToken, names.padToken, ...[...added.values()].filter((t) => t.special).map((t) => t.content)])];
  return new T5Tokenizer({
    file, sp, pieces: pieces.map((p) => p.piece), added: [...added.values()], specialTokens, ...names, legacy, addPrefixSpace: true, ...common(config),
  });
}

/** The precompiled_charsmap of a Precompiled normalizer (alone or in a Sequence), base64 in tokenizer.json. */
function findPrecompiledCharsmap(normalizer: unknown): Uint8Array | undefined {
  if (typeof normalizer !== 'object' || normalizer === null) return undefined;
  const n = normalizer as Config;
  if (n.type === 'Precompiled' && typeof n.precompiled_charsmap === 'string') return Buffer.from(n.precompiled_charsmap, 'base64');
  if (n.type === 'Sequence' && Array.isArray(n.normalizers)) {
    for (const m of n.normalizers) {
      const found = findPrecompiledCharsmap(m);
      if (found) return found;
    }
  }
  return undefined;
}

/** Whether the Metaspace pre-tokenizer prepends '▁' (the dummy prefix); true when there is none to say. */
function metaspacePrefix(pre: unknown): boolean {
  if (typeof pre !== 'object' || pre === null) return true;
  const p = pre as Config;
  if (p.type === 'Metaspace') {
    if (typeof p.prepend_scheme === 'string') return p.prepend_scheme !== 'never';
    return boolOr(p.add_prefix_space, true);
  }
  if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) {
    const m = p.pretokenizers.find((x) => typeof x === 'object' && x !== null && (x as Config).type === 'Metaspace');
    if (m) return metaspacePrefix(m);
  }
  return true;
}

// ---- BERT

interface BertVocab {
  vocab: Map<string, number>;
  tokens: Map<number, string>;
}

async function loadBertFromVocab(file: string, config: Config, options: LoadTokenizerOptions): Promise<BertTokenizer> {
  checkKind(options, 'bert');
  const text = readText(file, MAX_VOCAB_BYTES);
  // Python's readlines() in text mode: \n, \r\n and \r end a line; rstrip('\n') keeps everything else.
  const lines = text.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new CheckpointError(`'${file}' is an empty vocabulary`);
  if (lines.length > MAX_VOCAB_ENTRIES) throw new CheckpointError(`'${file}' has ${lines.length} lines; a vocabulary is expected to have at most ${MAX_VOCAB_ENTRIES}`);
  const vocab = new Map<string, number>();
  const tokens = new Map<number, string>();
  lines.forEach((t, i) => {
    vocab.set(t, i);
    tokens.set(i, t);
  });
  return makeBert(file, { vocab, tokens }, config, options, {
    lowercase: boolOr(config.do_lower_case, true),
    stripAccents: typeof config.strip_accents === 'boolean' ? config.strip_accents : null,
    tokenizeChineseChars: boolOr(config.tokenize_chinese_chars, true),
    continuingPrefix: '##',
    maxInputCharsPerWord: 100,
    added: addedTokensDecoder(config, file),
  });
}

async function loadBertFromJson(file: string, json: Config, config: Config, options: LoadTokenizerOptions): Promise<BertTokenizer> {
  checkKind(options, 'bert');
  const model = json.model as Config;
  if (typeof model.vocab !== 'object' || model.vocab === null || Array.isArray(model.vocab)) throw new CheckpointError(`'${file}': model.vocab is not a { token: id } object`);
  const entries = Object.entries(model.vocab as Config);
  if (entries.length > MAX_VOCAB_ENTRIES) throw new CheckpointError(`'${file}' has ${entries.length} tokens; a vocabulary is expected to have at most ${MAX_VOCAB_ENTRIES}`);
  const vocab = new Map<string, number>();
  const tokens = new Map<number, string>();
  for (const [t, id] of entries) {
    if (!Number.isInteger(id) || (id as number) < 0) throw new CheckpointError(`'${file}': model.vocab[${JSON.stringify(t)}] is not an id`);
    vocab.set(t, id as number);
    tokens.set(id as number, t);
  }
  if (vocab.size === 0) throw new CheckpointError(`'${file}' is an empty vocabulary`);
  const norm = json.normalizer as Config | null | undefined;
  if (norm && norm.type !== 'BertNormalizer') throw new CheckpointError(`'${file}': normalizer ${JSON.stringify(norm.type)} is not a BertNormalizer`);
  const maxChars = model.max_input_chars_per_word;
  return makeBert(file, { vocab, tokens }, config, options, {
    lowercase: boolOr(config.do_lower_case, boolOr(norm?.lowercase, true)),
    stripAccents: typeof config.strip_accents === 'boolean' ? config.strip_accents : typeof norm?.strip_accents === 'boolean' ? norm.strip_accents : null,
    tokenizeChineseChars: boolOr(config.tokenize_chinese_chars, boolOr(norm?.handle_chinese_chars, true)),
    continuingPrefix: typeof model.continuing_subword_prefix === 'string' ? model.continuing_subword_prefix : '##',
    maxInputCharsPerWord: Number.isInteger(maxChars) && (maxChars as number) > 0 ? (maxChars as number) : 100,
    unkToken: typeof model.unk_token === 'string' ? model.unk_token : undefined,
    added: jsonAddedTokens(json, file),
  });
}

function makeBert(
  file: string, { vocab, tokens }: BertVocab, config: Config, options: LoadTokenizerOptions,
  settings: {
    lowercase: boolean; stripAccents: boolean | null; tokenizeChineseChars: boolean; continuingPrefix: string;
    maxInputCharsPerWord: number; unkToken?: string; added: AddedToken[];
  },
): BertTokenizer {
  const unkToken = tokenName(config.unk_token, settings.unkToken ?? '[UNK]');
  if (!vocab.has(unkToken)) throw new CheckpointError(`'${file}' has no ${unkToken} token; a WordPiece vocabulary needs one`);
  const names = {
    unkToken,
    sepToken: tokenName(config.sep_token, '[SEP]'),
    padToken: tokenName(config.pad_token, '[PAD]'),
    clsToken: tokenName(config.cls_token, '[CLS]'),
    maskToken: tokenName(config.mask_token, '[MASK]'),
  };
  // PreTrainedTokenizer.__init__ adds the special tokens in this order: a vocabulary entry keeps its id,
  // a missing one gets the next free id.
  const specialTokens = [...new Set([names.unkToken, names.sepToken, names.padToken, names.clsToken, names.maskToken,
    ...(tokenList(config.additional_special_tokens, 'additional_special_tokens') ?? [])])];
  const added = new Map(settings.added.map((t) => [t.content, t]));
  for (const content of specialTokens) {
    if (added.has(content)) continue;
    const known = new Set([...vocab.keys(), ...added.keys()]);
    const id = vocab.get(content) ?? known.size;
    added.set(content, { id, content, lstrip: false, rstrip: false, singleWord: false, special: true, normalized: false });
  }
  const lowercase = options.lowercase ?? settings.lowercase;
  return new BertTokenizer({
    file, vocab, tokens, added: [...added.values()], specialTokens, ...names,
    lowercase, stripAccents: settings.stripAccents, tokenizeChineseChars: settings.tokenizeChineseChars,
    doBasicTokenize: boolOr(config.do_basic_tokenize, true), continuingPrefix: settings.continuingPrefix,
    maxInputCharsPerWord: settings.maxInputCharsPerWord, ...common(config),
  });
}
