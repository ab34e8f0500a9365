// The fact store against a scripted Docker, on fake time: no root, milliseconds.
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FactStore } from '../../src/daemon/fact-store.js';
import { type Clock, realClock } from '../../src/util/clock.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeDocker } from '../support/fake-docker.js';
import { web } from '../support/test-daemon.js';

function store(docker: FakeDocker, clock: Clock = realClock) {
  const calls = { change: 0, askAgain: 0 };
  const lines: Array<Record<string, unknown>> = [];
  const s = new FactStore({
    docker,
    log: pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) }),
    clock,
    timing: () => ({ dockerTimeoutMs: 100, unknownGraceMs: 1000, retryMinMs: 10, retryMaxMs: 20 }),
    onChange: () => void calls.change++,
    onAskAgain: () => void calls.askAgain++,
  });
  return { s, calls, lines };
}

describe('FactStore', () => {
  it('a first refresh lists everything; later ones inspect only what events named', async () => {
    const docker = new FakeDocker();
    const a = web('a', '172.17.0.2', 8000);
    docker.running.set(a.id, a);
    const { s } = store(docker);
    await s.refresh();
    expect(s.haveFacts).toBe(true);
    expect(s.ids).toEqual([a.id]);
    const before = docker.inspects;
    await s.refresh();
    expect(docker.inspects).toBe(before);
    const b = web('b', '172.17.0.3', 8001);
    docker.running.set(b.id, b);
    s.onEvent({ type: 'container', action: 'start', containerId: b.id });
    const v = s.version;
    await s.refresh();
    expect(s.ids.sort()).toEqual([a.id, b.id].sort());
    expect(s.version).toBeGreaterThan(v);
  });

  it('a slow inspect holds a refresh only a bounded time; its late answer calls onChange', async () => {
    const docker = new FakeDocker();
    const clock = new FakeClock();
    docker.clock = clock;
    const { s, calls } = store(docker, clock);
    await s.refresh();
    const slow = web('slow', '172.17.0.4', 8002);
    docker.running.set(slow.id, slow);
    docker.held.set(slow.id, () => undefined);
    s.onEvent({ type: 'container', action: 'start', containerId: slow.id });
    let done = false;
    const refreshed = s.refresh().then(() => (done = true));
    // Waits for the answer up to Docker's deadline (100 ms here), at most 250 ms.
    await clock.advance(99);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(done).toBe(true);
    await refreshed;
    expect(s.ids).not.toContain(slow.id);
    const changes = calls.change;
    docker.held.get(slow.id)!();
    await clock.advance(0);
    expect(s.ids).toContain(slow.id);
    expect(calls.change).toBeGreaterThan(changes);
  });

  it('a container Docker stops answering about keeps its facts for the grace, then loses them', async () => {
    const docker = new FakeDocker();
    docker.apiTimeoutMs = 20;
    const clock = new FakeClock();
    docker.clock = clock;
    const { s, calls } = store(docker, clock);
    const known = web('known', '172.17.0.5', 8003);
    docker.running.set(known.id, known);
    await s.refresh();
    docker.hung.add(known.id);
    s.onEvent({ type: 'container', action: 'restart', containerId: known.id });
    const refreshed = s.refresh();
    // The inspect fails at Docker's deadline (20 ms): unknown from then on.
    await clock.advance(20);
    await refreshed;
    expect(s.unknown).toEqual([known.id]);
    s.expireUnknown();
    expect(s.ids).toEqual([known.id]);
    // It is asked about again meanwhile (retry_min_ms 10, retry_max_ms 20: every 20 ms).
    await clock.advance(20);
    expect(calls.askAgain).toBeGreaterThan(0);
    // The grace (1000 ms) counts from the first failure.
    await clock.advance(979);
    s.expireUnknown();
    expect(s.ids).toEqual([known.id]);
    await clock.advance(1);
    s.expireUnknown();
    expect(s.ids).toEqual([]);
    s.stop();
  });
});

/** How a scripted Docker call fails: it never answers at all, or it answers with an error. */
type Failure = 'hangs' | 'rejects';
const failing = <T>(how: Failure, what: string): (() => Promise<T>) =>
  how === 'hangs' ? () => new Promise<T>(() => undefined) : async () => Promise.reject(new Error(`${what}: 500 server error`));

/**
 * Issue 18.4: a die event during a failing full resync. The list is what fails here, so without a
 * deadline on it and an inspect of what the events named, the container's DNAT would stay for
 * as long as Docker keeps failing, pointing at an address Docker may hand to the next container.
 */
describe('FactStore: a stop event Docker cannot confirm or refute', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A store whose one container ('db', DNAT) is known, and whose next refresh is a full resync. */
  async function known() {
    vi.useFakeTimers();
    const docker = new FakeDocker();
    const db = web('db', '172.17.0.7', 5432, { 'dockgate.mode': 'dnat' });
    docker.running.set(db.id, db);
    const st = store(docker);
    await st.s.refresh();
    expect(st.s.ids).toEqual([db.id]);
    // A read failed, or the events stream came back: the next refresh lists everything again.
    st.s.resync();
    return { docker, db, ...st };
  }

  /** What the daemon does in one sync: refresh (its failure is logged, not fatal), then expire. */
  async function sync(s: FactStore): Promise<void> {
    const done = s.refresh().catch(() => undefined);
    // Long enough for a hung list's and a hung inspect's deadlines (100 ms each, plus slack).
    await vi.advanceTimersByTimeAsync(500);
    await done;
    s.expireUnknown();
  }

  for (const list of ['hangs', 'rejects'] as const) {
    for (const inspect of ['hangs', 'rejects'] as const) {
      it(`list ${list}, inspect ${inspect}: the container keeps its rules for the grace after its die event, then loses them`, async () => {
        const { docker, db, s, calls, lines } = await known();
        docker.listIds = failing(list, 'docker list');
        docker.inspect = failing(inspect, 'docker inspect');
        const died = Date.now();
        s.onEvent({ type: 'container', action: 'die', containerId: db.id });
        await sync(s);
        expect(s.ids).toEqual([db.id]);
        // Just before the grace runs out it is still there...
        await vi.advanceTimersByTimeAsync(died + 999 - Date.now());
        s.expireUnknown();
        expect(s.ids).toEqual([db.id]);
        // ...and the store asks for the sync that removes it when it does.
        const asked = calls.askAgain;
        await vi.advanceTimersByTimeAsync(1);
        expect(calls.askAgain).toBeGreaterThan(asked);
        await sync(s);
        expect(s.ids).toEqual([]);
        expect(lines.find((l) => l.event === 'container-unconfirmed')).toMatchObject({ container: 'db', action: 'die' });
        s.stop();
      });
    }
  }

  it('list fails, but the inspect says the container is gone: it loses its rules at once', async () => {
    const { docker, db, s } = await known();
    docker.listIds = failing('rejects', 'docker list');
    docker.running.delete(db.id); // inspect answers 404
    s.onEvent({ type: 'container', action: 'die', containerId: db.id });
    await sync(s);
    expect(s.ids).toEqual([]);
    s.stop();
  });

  it('list fails, but the inspect says the container is running (it restarted): it keeps its rules past the grace', async () => {
    const { docker, db, s, lines } = await known();
    docker.listIds = failing('hangs', 'docker list');
    s.onEvent({ type: 'container', action: 'die', containerId: db.id });
    s.onEvent({ type: 'container', action: 'start', containerId: db.id });
    await sync(s);
    await vi.advanceTimersByTimeAsync(5000);
    await sync(s);
    expect(s.ids).toEqual([db.id]);
    expect(lines.find((l) => l.event === 'container-unconfirmed')).toBeUndefined();
    s.stop();
  });

  it('without a stop event a failing list removes nothing, however long it fails', async () => {
    const { docker, db, s } = await known();
    docker.listIds = failing('rejects', 'docker list');
    for (let i = 0; i < 10; i++) {
      await sync(s);
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(s.ids).toEqual([db.id]);
    s.stop();
  });

  it('an answer asked before the die event ("running") does not count as confirmation', async () => {
    const { docker, db, s } = await known();
    await sync(s); // the resync known() asked for, while Docker still answers
    let release!: () => void;
    const answer = docker.running.get(db.id);
    docker.inspect = () => new Promise((resolve) => (release = () => resolve(answer)));
    s.onEvent({ type: 'container', action: 'restart', containerId: db.id });
    await sync(s); // that inspect is held: it answers only later
    docker.inspect = failing('rejects', 'docker inspect');
    docker.listIds = failing('rejects', 'docker list');
    s.resync();
    s.onEvent({ type: 'container', action: 'die', containerId: db.id });
    release();
    await sync(s);
    await vi.advanceTimersByTimeAsync(1000);
    await sync(s);
    expect(s.ids).toEqual([]);
    s.stop();
  });

  it('a container removed this way comes back once Docker confirms it running, without any new event', async () => {
    const { docker, db, s, calls } = await known();
    const { listIds, inspect } = { listIds: docker.listIds.bind(docker), inspect: docker.inspect.bind(docker) };
    docker.listIds = failing('hangs', 'docker list');
    docker.inspect = failing('hangs', 'docker inspect');
    s.onEvent({ type: 'container', action: 'die', containerId: db.id });
    await sync(s);
    await vi.advanceTimersByTimeAsync(1000);
    const asked = calls.askAgain;
    await sync(s);
    expect(s.ids).toEqual([]);
    // No event will come: the failed list itself asks for another try.
    expect(calls.askAgain).toBeGreaterThan(asked);
    // Docker recovers; the container was in fact running all along (a die of a process Docker restarted).
    docker.listIds = listIds;
    docker.inspect = inspect;
    await sync(s);
    expect(s.ids).toEqual([db.id]);
    s.stop();
  });
});
