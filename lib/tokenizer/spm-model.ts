// A minimal reader and writer of SentencePiece model files (sentencepiece_model.proto, proto2 wire format):
// enough to check an untrusted file before the WASM library parses it, to list its pieces (ids -> strings),
// to switch off the dummy prefix (T5 legacy=false) and to build a model from a tokenizer.json Unigram.
import { CheckpointError } from '../errors.js';
import { MAX_VOCAB_ENTRIES } from './files.js';

/** Piece types of ModelProto.SentencePiece.Type. */
export const PieceType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface SpmPiece {
  piece: string;
  score: number;
  type: number;
}

export interface SpmModel {
  pieces: SpmPiece[];
  /** TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char. */
  modelType: number;
  /** NormalizerSpec.add_dummy_prefix (default true). */
  addDummyPrefix: boolean;
  /** NormalizerSpec.precompiled_charsmap (empty for a rule-named normalizer). */
  precompiledCharsmap: Uint8Array;
}

interface Field {
  field: number;
  wire: number;
  /** Varint (as a number; ids and flags are small), a fixed32 float, or the bytes of a length-delimited field. */
  value: number | Uint8Array;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The fields of one message; throws (plain Error) on anything malformed. */
function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++];
      result += (b & 0x7f) * scale; // exact below 2^53, which covers every length and id here
      scale *= 128;
      if (!(b & 0x80)) return result;
    }
    throw new Error('varint longer than 10 bytes');
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw new Error('field number 0');
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 1) {
      if (pos + 8 > buf.length) throw new Error('truncated fixed64');
      out.push({ field, wire, value: buf.subarray(pos, pos + 8) });
      pos += 8;
    } else if (wire === 2) {
      const n = varint();
      if (n > buf.length - pos) throw new Error(`length ${n} runs past the end`);
      out.push({ field, wire, value: buf.subarray(pos, pos + n) });
      pos += n;
    } else if (wire === 5) {
      if (pos + 4 > buf.length) throw new Error('truncated fixed32');
      out.push({ field, wire, value: new DataView(buf.buffer, buf.byteOffset + pos, 4).getFloat32(0, true) });
      pos += 4;
    } else throw new Error(`wire type ${wire}`);
  }
  return out;
}

const bytesOf = (f: Field, what: string): Uint8Array => {
  if (f.wire !== 2) throw new Error(`${what} is not length-delimited`);
  return f.value as Uint8Array;
};
const numberOf = (f: Field, what: string, wire = 0): number => {
  if (f.wire !== wire) throw new Error(`${what} has wire type ${f.wire}`);
  return f.value as number;
};

/** Parses and checks a ModelProto; CheckpointError naming `file` when it is not a usable SentencePiece model. */
export function parseSpmModel(bytes: Uint8Array, file: string): SpmModel {
  const pieces: SpmPiece[] = [];
  let modelType = 1;
  let addDummyPrefix = true;
  let precompiledCharsmap: Uint8Array = new Uint8Array(0);
  try {
    for (const f of fields(bytes)) {
      if (f.field === 1) {
        if (pieces.length >= MAX_VOCAB_ENTRIES) throw new Error(`more than ${MAX_VOCAB_ENTRIES} pieces`);
        let piece: string | undefined;
        let score = 0;
        let type: number = PieceType.NORMAL;
        for (const p of fields(bytesOf(f, 'a piece'))) {
          if (p.field === 1) piece = utf8.decode(bytesOf(p, 'piece'));
          else if (p.field === 2) score = numberOf(p, 'score', 5);
          else if (p.field === 3) type = numberOf(p, 'type');
        }
        if (piece === undefined) throw new Error(`piece ${pieces.length} has no text`);
        if (type < 1 || type > 6) throw new Error(`piece ${pieces.length} has type ${type}`);
        pieces.push({ piece, score, type });
      } else if (f.field === 2) {
        for (const t of fields(bytesOf(f, 'trainer_spec'))) if (t.field === 3) modelType = numberOf(t, 'model_type');
      } else if (f.field === 3) {
        for (const n of fields(bytesOf(f, 'normalizer_spec'))) {
          if (n.field === 2) precompiledCharsmap = bytesOf(n, 'precompiled_charsmap');
          else if (n.field === 3) addDummyPrefix = numberOf(n, 'add_dummy_prefix') !== 0;
        }
      }
    }
  } catch (err) {
    throw new CheckpointError(`'${file}' is not a SentencePiece model: ${(err as Error).message}`, { cause: err });
  }
  if (pieces.length === 0) throw new CheckpointError(`'${file}' is not a SentencePiece model: it has no pieces`);
  if (modelType < 1 || modelType > 4) throw new CheckpointError(`'${file}' is not a SentencePiece model: model_type ${modelType}`);
  const unknown = pieces.filter((p) => p.type === PieceType.UNKNOWN).length;
  if (unknown !== 1) throw new CheckpointError(`'${file}' is not a usable SentencePiece model: it has ${unknown} unknown pieces (expected 1)`);
  return { pieces, modelType, addDummyPrefix, precompiledCharsmap };
}

// ---- writing

function varintBytes(n: number): number[] {
  const out: number[] = [];
  let v = n;
  if (v < 0) throw new Error('negative varint'); // int32 fields we write are never negative
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}

class Writer {
  parts: number[] = [];
  varint(field: number, v: number): this {
    this.parts.push(...varintBytes(field * 8), ...varintBytes(v));
    return this;
  }
  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.parts.push(...varintBytes(field * 8 + 5), ...b);
    return this;
  }
  bytes(field: number, v: Uint8Array): this {
    this.parts.push(...varintBytes(field * 8 + 2), ...varintBytes(v.length));
    for (const b of v) this.parts.push(b); // no spread: a charsmap is too large for the argument list
    return this;
  }
  string(field: number, v: string): this {
    return this.bytes(field, new TextEncoder().encode(v));
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/**
 * The same model with NormalizerSpec.add_dummy_prefix = false, as transformers' T5Tokenizer builds it for
 * legacy=false. An embedded message that appears twice is merged field by field (protobuf rule), so
 * appending a normalizer_spec holding only that flag overrides it and keeps the rest.
 */
export function withoutDummyPrefix(bytes: Uint8Array): Uint8Array {
  const patch = new Writer().bytes(3, new Writer().varint(3, 0).finish()).finish();
  const out = new Uint8Array(bytes.length + patch.length);
  out.set(bytes);
  out.set(patch, bytes.length);
  return out;
}

/** A unigram ModelProto from a tokenizer.json Unigram model (what transformers' converter read it from). */
export function buildUnigramModel(options: {
  pieces: SpmPiece[];
  byteFallback: boolean;
  precompiledCharsmap?: Uint8Array;
  addDummyPrefix: boolean;
}): Uint8Array {
  const w = new Writer();
  for (const p of options.pieces) {
    const pw = new Writer().string(1, p.piece).float(2, p.score);
    if (p.type !== PieceType.NORMAL) pw.varint(3, p.type);
    w.bytes(1, pw.finish());
  }
  const unk = options.pieces.findIndex((p) => p.type === PieceType.UNKNOWN);
  const trainer = new Writer().varint(3, 1).varint(40, Math.max(unk, 0));
  if (options.byteFallback) trainer.varint(35, 1);
  w.bytes(2, trainer.finish());
  const norm = new Writer();
  if (options.precompiledCharsmap?.length) norm.string(1, 'user_defined').bytes(2, options.precompiledCharsmap);
  else norm.string(1, 'identity');
  norm.varint(3, options.addDummyPrefix ? 1 : 0).varint(4, 1).varint(5, 1);
  w.bytes(3, norm.finish());
  return w.finish();
}
