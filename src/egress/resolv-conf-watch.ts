// Follows the resolver configuration (egress.resolv_conf) as it changes, so that a new set of
// nameservers is used (and every name asked again) at once instead of at the next sync. The file
// is rarely edited in place: resolvconf and NetworkManager replace it by rename, systemd-resolved
// makes /etc/resolv.conf a symlink into /run. So the directories are watched, not the file: the
// file's own, and its symlink target's when that is elsewhere (two at most; a chain of symlinks is
// followed to its end only). Events are settled (one read per `settleMs` at most, however busy
// the directory), and only a change of the nameservers is reported.
import { type FSWatcher, watch } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { readResolvConf } from './resolv-conf.js';
import type { Result } from '../model/result.js';

export interface ResolvConfWatchOptions {
  path: string;
  log: Logger;
  /** The nameservers changed (empty when the file went away or cannot be read). */
  onChange(servers: readonly string[]): void;
  /** At most one read per this long (default 200 ms). */
  settleMs?: number;
}

const serversOf = (r: Result<string[]>): string[] => (r.ok ? r.value : []);

export class ResolvConfWatch {
  readonly #o: ResolvConfWatchOptions;
  readonly #settleMs: number;
  #current: Result<string[]> = { ok: false, error: 'not read yet' };
  /** Watched directory → its watcher, and the file names in it that matter. */
  readonly #watchers = new Map<string, { w: FSWatcher; names: Set<string> }>();
  #target: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #reportedUnwatched = false;

  constructor(o: ResolvConfWatchOptions) {
    this.#o = o;
    this.#settleMs = o.settleMs ?? 200;
  }

  get path(): string {
    return this.#o.path;
  }

  /** True while every directory that matters is watched; false: read the file yourself. */
  get watching(): boolean {
    return !this.#stopped && this.#watchers.size > 0;
  }

  /** The last reading. */
  get current(): Result<string[]> {
    return this.#current;
  }

  /** Reads the file, then watches. A directory that cannot be watched leaves `watching` false. */
  async start(): Promise<void> {
    this.#current = await readResolvConf(this.#o.path);
    await this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#closeAll();
  }

  #closeAll(): void {
    for (const { w } of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  /** Watches the file's directory and its symlink target's; again when the target moved. */
  async #arm(): Promise<void> {
    const path = this.#o.path;
    const target = await realpath(path).catch(() => undefined);
    if (this.#stopped || (this.#watchers.size > 0 && target === this.#target)) return;
    this.#target = target;
    const wanted = new Map<string, Set<string>>([[dirname(path), new Set([basename(path)])]]);
    if (target !== undefined && target !== path) {
      const names = wanted.get(dirname(target)) ?? new Set<string>();
      names.add(basename(target));
      wanted.set(dirname(target), names);
    }
    this.#closeAll();
    for (const [dir, names] of wanted) {
      try {
        // persistent: false — watching must never keep the process alive.
        const w = watch(dir, { persistent: false }, (_type, file) => {
          if (file === null || names.has(String(file))) this.#changed();
        });
        w.on('error', (err) => this.#giveUp(err));
        this.#watchers.set(dir, { w, names });
      } catch (err) {
        this.#giveUp(err as Error);
        return;
      }
    }
  }

  /** Falls back to reading at each sync (the caller's), with one warning. */
  #giveUp(err: Error): void {
    this.#closeAll();
    if (this.#stopped || this.#reportedUnwatched) return;
    this.#reportedUnwatched = true;
    this.#o.log.warn(
      { event: 'resolv-conf-unwatched', path: this.#o.path, err: err.message },
      `cannot watch ${this.#o.path} (${err.message}): it is read again at every sync instead`,
    );
  }

  #changed(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#check();
    }, this.#settleMs);
    this.#timer.unref?.();
  }

  /** One read at a time; an event during it asks for one more. */
  async #check(): Promise<void> {
    if (this.#checking) {
      this.#again = true;
      return;
    }
    this.#checking = (async () => {
      do {
        this.#again = false;
        await this.#arm();
        const r = await readResolvConf(this.#o.path);
        if (this.#stopped) return;
        const before = serversOf(this.#current);
        this.#current = r;
        const servers = serversOf(r);
        if (servers.join() === before.join()) continue;
        this.#o.log.info(
          { event: 'resolv-conf-changed', path: this.#o.path, servers, before },
          `${this.#o.path} changed: nameservers ${servers.join(', ') || '(none)'}; every egress name is asked again`,
        );
        this.#o.onChange(servers);
      } while (this.#again && !this.#stopped);
    })();
    try {
      await this.#checking;
    } finally {
      this.#checking = undefined;
    }
  }
}
