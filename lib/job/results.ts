/**
 * Finished jobs kept for lookup by id, bounded in count and age. Oldest
 * first out; expired entries are dropped as new ones arrive and on lookup,
 * so no timer is needed.
 */
export class ResultStore<Record extends { readonly finishedAt: number | undefined }> {
  private readonly records = new Map<string, Record>();
  // Arrival order, for dropping the oldest first (a Map walked from its
  // front slows down as deleted entries pile up there): ids and records
  // side by side, so that an arrival allocates nothing.
  // A slot is cleared as its record leaves: the arrays compact only now
  // and then, and must not keep evicted records alive until then.
  private ids: (string | undefined)[] = [];
  private arrivals: (Record | undefined)[] = [];
  private head = 0;

  constructor(
    private readonly maxResults: number,
    private readonly resultTtl: number,
  ) {}

  get size(): number {
    return this.records.size;
  }

  add(id: string, record: Record, at: number): void {
    if (this.maxResults === 0) return;
    this.records.set(id, record);
    this.ids.push(id);
    this.arrivals.push(record);
    this.prune(at);
  }

  get(id: string, at: number): Record | undefined {
    this.prune(at);
    return this.records.get(id);
  }

  private release(): void {
    this.ids[this.head] = undefined;
    this.arrivals[this.head] = undefined;
    this.head++;
  }

  private prune(at: number): void {
    while (this.head < this.ids.length) {
      const id = this.ids[this.head]!;
      const record = this.arrivals[this.head]!;
      // An id added again later keeps its newer record.
      if (this.records.get(id) !== record) {
        this.release();
        continue;
      }
      const isTooMany = this.records.size > this.maxResults;
      const isTooOld = at - (record.finishedAt ?? at) > this.resultTtl;
      if (!isTooMany && !isTooOld) break;
      this.records.delete(id);
      this.release();
    }
    if (this.head >= 1024 && this.head * 2 >= this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.arrivals = this.arrivals.slice(this.head);
      this.head = 0;
    }
  }
}
