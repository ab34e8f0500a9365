// Exponential backoff with a ceiling; reset after a success.
export class Backoff {
  #next: number;
  constructor(readonly minMs: number, readonly maxMs: number) {
    this.#next = minMs;
  }
  /** The delay to wait now; doubles the next one. */
  take(): number {
    const d = this.#next;
    this.#next = Math.min(this.maxMs, this.#next * 2);
    return d;
  }
  reset(): void {
    this.#next = this.minMs;
  }
}
