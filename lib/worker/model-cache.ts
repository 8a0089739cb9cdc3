// A worker's loaded models, least recently used first out, bounded by the bytes their weights hold. An entry being
// used is never disposed: eviction skips it (the bound can be exceeded while jobs hold more than it), and it is
// disposed when its last user releases it after being evicted.

export interface Disposable {
  dispose(): void;
}

interface Entry<T extends Disposable> {
  key: string;
  value: Promise<T>;
  loaded?: T; // once the load resolved: disposed synchronously
  bytes: number;
  users: number;
  evicted: boolean;
}

export interface CacheLease<T> {
  value: T;
  release(): void;
}

export class ModelCache<T extends Disposable> {
  readonly #entries = new Map<string, Entry<T>>(); // insertion order = least recently used first
  #closed = false;

  /** maxBytes: the weights kept loaded (0: none kept between jobs). */
  constructor(readonly maxBytes: number, private readonly sizeOf: (value: T) => number) {}

  /** Bytes of the loaded entries. */
  get bytes(): number {
    let total = 0;
    for (const e of this.#entries.values()) total += e.bytes;
    return total;
  }

  get keys(): string[] {
    return [...this.#entries.keys()];
  }

  /** The value for `key`, loading it with `load` if absent (concurrent callers share one load). Release it when done. */
  async acquire(key: string, load: () => Promise<T>): Promise<CacheLease<T>> {
    if (this.#closed) throw new Error('the model cache is closed');
    let e = this.#entries.get(key);
    if (e) {
      this.#entries.delete(key); // most recently used: to the end
      this.#entries.set(key, e);
    } else {
      e = { key, value: load(), bytes: 0, users: 0, evicted: false };
      this.#entries.set(key, e);
    }
    e.users++;
    let value: T;
    try {
      value = await e.value;
    } catch (err) {
      e.users--;
      if (this.#entries.get(key) === e) this.#entries.delete(key); // a failed load is not cached
      throw err;
    }
    e.loaded = value;
    e.bytes = this.sizeOf(value);
    this.#evict();
    let released = false;
    const entry = e;
    return {
      value,
      release: () => {
        if (released) return;
        released = true;
        entry.users--;
        if (entry.evicted && entry.users === 0) value.dispose();
        else this.#evict();
      },
    };
  }

  /** Disposes every entry now unused; entries in use are disposed when released. */
  async clear(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of entries) await this.#drop(e);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.clear();
  }

  #evict(): void {
    for (const e of [...this.#entries.values()]) {
      if (this.bytes <= this.maxBytes) return;
      if (e.users > 0) continue;
      this.#entries.delete(e.key);
      void this.#drop(e);
    }
  }

  async #drop(e: Entry<T>): Promise<void> {
    e.evicted = true;
    if (e.users > 0) return;
    if (e.loaded) return e.loaded.dispose();
    try {
      (await e.value).dispose();
    } catch {
      // a failed load has nothing to dispose
    }
  }
}
