// The daemon's hold on egress.resolv_conf: one ResolvConfWatch for the path the config names, a
// new one when a reload names another. A change asks for a sync, which re-plans the resolver
// accepts and asks every name again.
import type { Logger } from 'pino';
import { ResolvConfWatch } from '../egress/resolv-conf-watch.js';

export class ResolvFollow {
  #watch: ResolvConfWatch | undefined;
  #stopped = false;

  constructor(private readonly o: { log: Logger; onChange: () => void }) {}

  /** The watcher while there is one: a sync takes its reading instead of reading the file. */
  get watch(): ResolvConfWatch | undefined {
    return this.#watch;
  }

  /** Follows `path` (again, after a reload); the same path keeps its watcher. */
  async follow(path: string): Promise<void> {
    if (this.#stopped || this.#watch?.path === path) return;
    this.#watch?.stop();
    const w = new ResolvConfWatch({ path, log: this.o.log, onChange: this.o.onChange });
    this.#watch = w;
    await w.start();
    if (this.#stopped) w.stop();
  }

  stop(): void {
    this.#stopped = true;
    this.#watch?.stop();
  }
}
