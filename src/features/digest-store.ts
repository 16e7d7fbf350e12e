// Window digests inside the arena (SPEC §1: t-digests live in the partition's SharedArrayBuffer and
// the addon works on them in place). A slot's digest reference is (word offset, block words) in
// the arena's digest region; a digest starts small and moves to a bigger block when the addon
// says it needs one, so a window with a handful of values costs a handful of words.
import { native } from '../native';
import type { Arena } from '../state/arena';
import { Arena as ArenaClass } from '../state/arena';
import type { DigestStore } from './aggregate';
import type { FeaturePlan } from './plan';

export function createDigestStore(arena: Arena, plan: FeaturePlan): DigestStore {
  const refWord = (slotBase: number, d: number) => (slotBase + plan.digestBase + d) * 2; // Int32 index
  const i32 = () => arena.slotsI32;

  /** The digest's block, created on first use. */
  const block = (slotBase: number, d: number): number => {
    const ref = refWord(slotBase, d);
    let at = i32()[ref];
    if (at < 0) {
      const words = native.digestInitWords(plan.digests[d].compression);
      at = arena.allocDigest(words);
      native.digestInit(arena.digestsF64, at, ArenaClass.digestBlockWords(words), plan.digests[d].compression);
      i32()[ref] = at;
      i32()[ref + 1] = ArenaClass.digestBlockWords(words);
    }
    return at;
  };

  /** Moves the digest to a block of at least `words` words. */
  const grow = (slotBase: number, d: number, words: number): number => {
    const ref = refWord(slotBase, d);
    const from = i32()[ref];
    const fromWords = i32()[ref + 1];
    const to = arena.allocDigest(words);
    const toWords = ArenaClass.digestBlockWords(words);
    native.digestMove(arena.digestsF64, from, to, toWords);
    arena.freeDigest(from, fromWords);
    i32()[ref] = to;
    i32()[ref + 1] = toWords;
    return to;
  };

  return {
    add(slotBase, d, x) {
      let at = block(slotBase, d);
      let need = native.digestAdd(arena.digestsF64, at, x);
      while (need > 0) {
        at = grow(slotBase, d, need);
        need = native.digestAdd(arena.digestsF64, at, x);
      }
    },
    merge(dstBase, srcBase, d) {
      const src = i32()[refWord(srcBase, d)];
      if (src < 0) return;
      let at = block(dstBase, d);
      let need = native.digestMerge(arena.digestsF64, at, i32()[refWord(srcBase, d)]);
      while (need > 0) {
        at = grow(dstBase, d, need);
        need = native.digestMerge(arena.digestsF64, at, i32()[refWord(srcBase, d)]);
      }
    },
    quantile(slotBase, d, q) {
      const at = i32()[refWord(slotBase, d)];
      return at < 0 ? NaN : native.digestQuantile(arena.digestsF64, at, q);
    },
    free(slotBase, d) {
      const ref = refWord(slotBase, d);
      if (i32()[ref] >= 0) {
        arena.freeDigest(i32()[ref], i32()[ref + 1]);
        i32()[ref] = -1;
      }
    },
  };
}
