// Window digests inside the arena (SPEC §1: t-digests live in the partition's SharedArrayBuffer and
// the addon works on them in place). A slot's digest reference is (word offset, block words) in
// the arena's digest region; a digest starts small and moves to a bigger block when the addon
// says it needs one, so a window with a handful of values costs a handful of words.
import { native } from '../native';
import { Arena } from '../state/arena';
import type { DigestStore } from './aggregate';
import type { FeaturePlan } from './plan';

// The pending adds of every store in this thread. Shared, not per store: a store lives for one
// task, and a task's adds are all flushed before its (synchronous) apply returns, so two stores
// never hold pending adds at once; allocating these per task was 48 KB for each partition's task.
const PENDING = 4096;
const pendingRef = new Int32Array(PENDING);
const pendingValue = new Float64Array(PENDING);
const needOut = new Float64Array(1);

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
      native.digestInit(arena.digestsF64, at, Arena.digestBlockWords(words), plan.digests[d].compression);
      i32()[ref] = at;
      i32()[ref + 1] = Arena.digestBlockWords(words);
    }
    return at;
  };

  /** Moves the digest whose reference is at Int32 index `ref` to a block of at least `words` words. */
  const grow = (ref: number, words: number): number => {
    const from = i32()[ref];
    const fromWords = i32()[ref + 1];
    const to = arena.allocDigest(words);
    const toWords = Arena.digestBlockWords(words);
    native.digestMove(arena.digestsF64, from, to, toWords);
    arena.freeDigest(from, fromWords);
    i32()[ref] = to;
    i32()[ref + 1] = toWords;
    return to;
  };

  // Adds wait here and go to the addon in one call (digestAddRefs) instead of one call each; every
  // read, merge or free of a digest first flushes them, so a digest is always read as if each add
  // had gone in at once. Entries name the slot's reference word, not the block: a block may move.
  let pending = 0;

  const flush = () => {
    let at = 0;
    while (at < pending) {
      at = native.digestAddRefs(arena.digestsF64, arena.slotsI32, pendingRef, pendingValue, at, pending, needOut);
      if (at < pending) grow(pendingRef[at], needOut[0]);
    }
    pending = 0;
  };

  return {
    add(slotBase, d, x) {
      block(slotBase, d);
      pendingRef[pending] = refWord(slotBase, d);
      pendingValue[pending] = x;
      if (++pending === PENDING) flush();
    },
    flush,
    merge(dstBase, srcBase, d) {
      flush();
      const src = i32()[refWord(srcBase, d)];
      if (src < 0) return;
      let at = block(dstBase, d);
      let need = native.digestMerge(arena.digestsF64, at, i32()[refWord(srcBase, d)]);
      while (need > 0) {
        at = grow(refWord(dstBase, d), need);
        need = native.digestMerge(arena.digestsF64, at, i32()[refWord(srcBase, d)]);
      }
    },
    quantile(slotBase, d, q) {
      flush();
      const at = i32()[refWord(slotBase, d)];
      return at < 0 ? NaN : native.digestQuantile(arena.digestsF64, at, q);
    },
    free(slotBase, d) {
      flush();
      const ref = refWord(slotBase, d);
      if (i32()[ref] >= 0) {
        arena.freeDigest(i32()[ref], i32()[ref + 1]);
        i32()[ref] = -1;
      }
    },
  };
}
