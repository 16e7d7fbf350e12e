// A key's list of slots, for windows that are not found by (key, start) alone: sessions (sorted by
// start) and per-event mode's cached sliding windows. The index holds the head under
// (keyId, -Infinity); each slot's next is the hi word of Slot.FlagsNext (-1: the end).
import { Slot, type Arena } from '../state/arena';

export const HEAD = -Infinity;

export function nextOf(a: Arena, slot: number): number {
  return a.slotsI32[(slot * a.slotWords + Slot.FlagsNext) * 2 + 1];
}

export function setNext(a: Arena, slot: number, next: number): void {
  a.slotsI32[(slot * a.slotWords + Slot.FlagsNext) * 2 + 1] = next;
}

/** Makes `slot` the head of its key's list (before `head`, the current one, or -1). */
export function setHead(a: Arena, keyId: number, head: number, slot: number): void {
  if (head >= 0) a.update(keyId, HEAD, slot);
  else a.insert(keyId, HEAD, slot);
}

/** Removes the slot from its key's list. */
export function unlink(a: Arena, slot: number): void {
  const keyId = a.slotsI32[(slot * a.slotWords + Slot.KeyIdRevision) * 2];
  const head = a.find(keyId, HEAD);
  const next = nextOf(a, slot);
  if (head === slot) {
    if (next >= 0) a.update(keyId, HEAD, next);
    else a.remove(keyId, HEAD);
    return;
  }
  for (let s = head; s >= 0; s = nextOf(a, s)) {
    if (nextOf(a, s) === slot) {
      setNext(a, s, next);
      return;
    }
  }
}
