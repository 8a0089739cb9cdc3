// SentencePiece itself (Google's C++ library compiled to WASM by @agnai/sentencepiece-js): the nmt_nfkc
// normalisation of the model's precompiled charsmap and the unigram segmentation, bit for bit the library
// transformers' T5Tokenizer calls. Loaded on first use (760 KB of JS with the WASM inlined).
import { createRequire } from 'node:module';
import { CheckpointError } from '../errors.js';

interface EmObject {
  delete(): void;
}
interface EmStringView extends EmObject {
  getView(): EmObject;
}
interface EmVectorInt extends EmObject {
  size(): number;
  get(i: number): number;
}
interface EmProcessor extends EmObject {
  Load(view: EmObject): EmObject & { ToString(): string };
  EncodeAsIds(view: EmObject): EmVectorInt;
}
interface EmModule {
  FS: { writeFile(path: string, data: Uint8Array): void; unlink(path: string): void };
  StringView: new (s: string) => EmStringView;
  SentencePieceProcessor: new () => EmProcessor;
}
interface PackageProcessor {
  load(file: string): Promise<void>;
  sentencepiece?: EmModule;
  processor?: EmProcessor;
}

const require = createRequire(import.meta.url);

/**
 * A fresh WASM instance of the library. Its only entry point, `load(path)`, reads a model by path and ignores
 * the load status, so we use it just to instantiate the module (with a file the caller has already checked:
 * a regular file under the size cap), then load the bytes we parsed and validated ourselves through the
 * module's own file system and check the status: sentencepiece only ever sees bytes we have checked.
 */
async function instantiate(checkedFile: string): Promise<EmModule> {
  const { SentencePieceProcessor } = require('@agnai/sentencepiece-js') as { SentencePieceProcessor: new () => PackageProcessor };
  const spp = new SentencePieceProcessor();
  try {
    await spp.load(checkedFile);
  } catch {
    // a file sentencepiece cannot parse (tokenizer.json) still leaves the module instantiated
  }
  const mod = spp.sentencepiece;
  if (!mod?.FS || !mod.SentencePieceProcessor) throw new CheckpointError('The SentencePiece WASM module did not start');
  spp.processor?.delete();
  try {
    mod.FS.unlink('sentencepiece.model');
  } catch {
    // nothing written
  }
  return mod;
}

export class SentencePiece {
  #mod: EmModule;
  #proc: EmProcessor;

  private constructor(mod: EmModule, proc: EmProcessor) {
    this.#mod = mod;
    this.#proc = proc;
  }

  /** Loads `model` (ModelProto bytes, already checked by parseSpmModel). `file` names it in errors. */
  static async load(model: Uint8Array, file: string, checkedFile: string): Promise<SentencePiece> {
    let mod: EmModule;
    try {
      mod = await instantiate(checkedFile);
    } catch (err) {
      if (err instanceof CheckpointError) throw err;
      throw new CheckpointError(`Cannot start SentencePiece for '${file}': ${(err as Error).message}`, { cause: err });
    }
    const name = 'skipdit.model';
    mod.FS.writeFile(name, model);
    const proc = new mod.SentencePieceProcessor();
    const path = new mod.StringView(name);
    const view = path.getView();
    let status: string;
    try {
      const st = proc.Load(view);
      status = st.ToString();
      st.delete();
    } catch (err) {
      proc.delete();
      throw new CheckpointError(`SentencePiece cannot load '${file}': ${(err as Error).message}`, { cause: err });
    } finally {
      view.delete();
      path.delete();
      mod.FS.unlink(name);
    }
    if (status !== 'OK') {
      proc.delete();
      throw new CheckpointError(`SentencePiece cannot load '${file}': ${status.trim()}`);
    }
    return new SentencePiece(mod, proc);
  }

  /** sentencepiece's `encode(text)` (ids, no BOS/EOS). */
  encode(text: string): number[] {
    const str = new this.#mod.StringView(text);
    const view = str.getView();
    try {
      const vec = this.#proc.EncodeAsIds(view);
      try {
        const ids = new Array<number>(vec.size());
        for (let i = 0; i < ids.length; i++) ids[i] = vec.get(i);
        return ids;
      } finally {
        vec.delete();
      }
    } finally {
      view.delete();
      str.delete();
    }
  }
}
