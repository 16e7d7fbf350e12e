// Interns window keys: key string -> dense id, with each key's hash and key partition. Ids index
// the columns workers see; strings stay on the main thread, which formats the records.
import { fmix32 } from '../util/murmur3';

/** FNV-1a over the key's UTF-8 bytes, then murmur3's finalizer so low bits spread well. The native
 *  decoder computes the same function, and key partitions (state layout) depend on it: never change it. */
export function keyHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, 0x01000193);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < key.length) {
      const d = key.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    const bytes =
      c < 0x800 ? [0xc0 | (c >> 6), 0x80 | (c & 63)]
      : c < 0x10000 ? [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63)]
      : [0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63)];
    for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
  }
  return fmix32(h);
}

export class KeyTable {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];
  private partitions = new Int32Array(1024);

  constructor(readonly numPartitions: number) {}

  get size(): number {
    return this.names.length;
  }

  /** The key's id, interning it on first sight. */
  intern(key: string): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(key, id);
      this.names.push(key);
      if (id >= this.partitions.length) {
        const grown = new Int32Array(this.partitions.length * 2);
        grown.set(this.partitions);
        this.partitions = grown;
      }
      this.partitions[id] = keyHash(key) % this.numPartitions;
    }
    return id;
  }

  name(id: number): string {
    return this.names[id];
  }

  partitionOf(id: number): number {
    return this.partitions[id];
  }
}
