// A bounded memory of the event ids something already handled: "once per event id" without a
// memory that grows with every event of the process's life. The oldest id is forgotten first;
// callers size the capacity well above the number of events that can come back to them (a
// redelivery window), so that an id is never forgotten while a copy of its event can still
// arrive.

export class SeenIds {
  private readonly ids = new Set<string>();

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, not ${capacity}`);
    }
  }

  get size(): number {
    return this.ids.size;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Remembers `id`; false when it was remembered already (then nothing changes). */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      // A Set iterates in insertion order: the first one is the oldest.
      const oldest = this.ids.values().next();
      if (oldest.done !== true) this.ids.delete(oldest.value);
    }
    return true;
  }
}
