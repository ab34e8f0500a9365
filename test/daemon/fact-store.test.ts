// The fact store against a scripted Docker, with a fake clock: no root, milliseconds.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FactStore } from '../../src/daemon/fact-store.js';
import { FakeDocker } from '../support/fake-docker.js';
import { web } from '../support/test-daemon.js';

function store(docker: FakeDocker, now = () => Date.now()) {
  const calls = { change: 0, askAgain: 0 };
  const s = new FactStore({
    docker,
    log: pino({ level: 'silent' }),
    now,
    timing: () => ({ dockerTimeoutMs: 100, unknownGraceMs: 1000, retryMinMs: 10, retryMaxMs: 20 }),
    onChange: () => void calls.change++,
    onAskAgain: () => void calls.askAgain++,
  });
  return { s, calls };
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

  it('a hung inspect holds a refresh only a bounded time; its late answer calls onChange', async () => {
    const docker = new FakeDocker();
    const { s, calls } = store(docker);
    await s.refresh();
    const slow = web('slow', '172.17.0.4', 8002);
    docker.running.set(slow.id, slow);
    docker.held.set(slow.id, () => undefined);
    s.onEvent({ type: 'container', action: 'start', containerId: slow.id });
    const t0 = Date.now();
    await s.refresh();
    expect(Date.now() - t0).toBeLessThan(250 + 100);
    expect(s.ids).not.toContain(slow.id);
    docker.held.get(slow.id)!();
    await new Promise((r) => setTimeout(r, 20));
    expect(s.ids).toContain(slow.id);
    expect(calls.change).toBeGreaterThan(0);
  });

  it('a container Docker stops answering about keeps its facts for the grace, then loses them', async () => {
    const docker = new FakeDocker();
    docker.apiTimeoutMs = 20;
    let now = 0;
    const { s, calls } = store(docker, () => now);
    const known = web('known', '172.17.0.5', 8003);
    docker.running.set(known.id, known);
    await s.refresh();
    docker.hung.add(known.id);
    s.onEvent({ type: 'container', action: 'restart', containerId: known.id });
    await s.refresh();
    await new Promise((r) => setTimeout(r, 50));
    expect(s.unknown).toEqual([known.id]);
    s.expireUnknown();
    expect(s.ids).toEqual([known.id]);
    now = 1001;
    s.expireUnknown();
    expect(s.ids).toEqual([]);
    await new Promise((r) => setTimeout(r, 30));
    expect(calls.askAgain).toBeGreaterThan(0);
    s.stop();
  });
});
