/**
 * Finished jobs kept for lookup by id, bounded in count and age. Oldest
 * first out; expired entries are dropped as new ones arrive and on lookup,
 * so no timer is needed.
 */
export class ResultStore<Record extends { readonly finishedAt: number | undefined }> {
  private readonly records = new Map<string, Record>();

  constructor(
    private readonly maxResults: number,
    private readonly resultTtl: number,
  ) {}

  get size(): number {
    return this.records.size;
  }

  add(id: string, record: Record, at: number): void {
    if (this.maxResults === 0) return;
    this.records.delete(id);
    this.records.set(id, record);
    this.prune(at);
  }

  get(id: string, at: number): Record | undefined {
    this.prune(at);
    return this.records.get(id);
  }

  private prune(at: number): void {
    // Map iteration follows insertion order, so the oldest come first.
    for (const [id, record] of this.records) {
      const isTooMany = this.records.size > this.maxResults;
      const isTooOld = at - (record.finishedAt ?? at) > this.resultTtl;
      if (!isTooMany && !isTooOld) break;
      this.records.delete(id);
    }
  }
}
