/**
 * A binary min-heap of items ordered by when they are next due, each knowing its own place
 * (`pos`), so that an item can be moved or removed in O(log n) without a search. The lease
 * keeper holds its leases in one.
 */

/** What the heap keeps on each item. */
export interface Due {
  /** When the item is next due; its key in the heap. */
  due: number;
  /** Its index in the heap, -1 when not in it. */
  pos: number;
}

export class DueHeap<T extends Due> {
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  /** When the earliest item is due (Infinity when empty). */
  get nextDue(): number {
    return this.items.length > 0 ? this.items[0]!.due : Infinity;
  }

  /** Puts the item in the heap for `at`, or moves it there. */
  set(e: T, at: number): void {
    if (e.pos < 0) {
      e.due = at;
      e.pos = this.items.length;
      this.items.push(e);
      this.up(e.pos);
      return;
    }
    const earlier = at < e.due;
    e.due = at;
    if (earlier) this.up(e.pos);
    else this.down(e.pos);
  }

  /** Takes the item out of the heap (no-op when it is not in it). */
  delete(e: T): void {
    const i = e.pos;
    if (i < 0) return;
    e.pos = -1;
    const h = this.items;
    const last = h.pop()!;
    if (i === h.length) return;
    h[i] = last;
    last.pos = i;
    this.up(i);
    this.down(last.pos);
  }

  /** Removes and returns the earliest item. The heap must not be empty. */
  pop(): T {
    const h = this.items;
    const top = h[0]!;
    top.pos = -1;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      last.pos = 0;
      this.down(0);
    }
    return top;
  }

  clear(): void {
    for (const e of this.items) e.pos = -1;
    this.items = [];
  }

  private up(i: number): void {
    const h = this.items;
    const e = h[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent]!;
      if (p.due <= e.due) break;
      h[i] = p;
      p.pos = i;
      i = parent;
    }
    h[i] = e;
    e.pos = i;
  }

  private down(i: number): void {
    const h = this.items;
    const e = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]!.due < h[l]!.due ? r : l;
      const child = h[c]!;
      if (child.due >= e.due) break;
      h[i] = child;
      child.pos = i;
      i = c;
    }
    h[i] = e;
    e.pos = i;
  }
}
