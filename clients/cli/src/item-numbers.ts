/**
 * The short numbers `/items` prints (1, 2, 3 …) so that `/watch 2` and `/bid 2 15` need no pasted
 * id. A number means the item at that place in the last list; anything else (or a number past
 * the end of the list) is an item id as typed.
 */
export class ItemNumbers {
  private ids: readonly string[] = [];

  /** Remembers the order of the list just printed. */
  remember(ids: readonly string[]): void {
    this.ids = [...ids];
  }

  /** The item id that `ref` stands for. */
  resolve(ref: string): string {
    if (/^[1-9]\d{0,3}$/.test(ref)) {
      const id = this.ids[Number(ref) - 1];
      if (id !== undefined) return id;
    }
    return ref;
  }

  /** The ids of the last list, in order (for completion). */
  get known(): readonly string[] {
    return this.ids;
  }
}
