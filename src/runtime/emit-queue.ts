// Writes each batch's outputs, in batch order, as soon as its tasks are done, while the main loop
// goes on reading. (Writing a batch only when the reader needed room made a quiet stream's results
// wait for the next batches to arrive: hundreds of ms at low rates.)

export class EmitQueue<T> {
  private readonly queue: T[] = [];
  private running = false;
  private failure: { error: unknown } | null = null;
  private waiters: Array<() => void> = [];

  constructor(private readonly emit: (item: T) => Promise<void>) {}

  /** Items not yet written, oldest first (the one being written included). */
  get pending(): readonly T[] {
    return this.queue;
  }

  push(item: T): void {
    this.queue.push(item);
    if (!this.running) void this.run();
  }

  /** Resolves once fewer than n items are pending; throws the first write's failure, if any. */
  async below(n: number): Promise<void> {
    while (this.queue.length >= n && !this.failure) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure) throw this.failure.error;
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0 && !this.failure) {
      try {
        await this.emit(this.queue[0]);
        this.queue.shift();
      } catch (error) {
        this.failure = { error };
      }
      for (const wake of this.waiters.splice(0)) wake();
    }
    this.running = false;
  }
}
