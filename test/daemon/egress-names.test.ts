// The daemon with its resolver and ipsets injected (DaemonOptions.lookup, .ipsets): what the bench
// needs to keep many containers with many names at rest without a DNS server or a kernel. Ten
// names shared by a hundred containers are ten sets, asked once per family, written in one batch,
// and nothing more happens while the answers are fresh.
import { afterEach, describe, expect, it } from 'vitest';
import type { Lookup } from '../../src/egress/resolver.js';
import type { Family } from '../../src/model/types.js';
import { FakeDocker } from '../support/fake-docker.js';
import { FakeIpsets } from '../support/fake-ipsets.js';
import { container } from '../plan/fixtures.js';
import { startTestDaemon, stopTestDaemons, testConfig } from '../support/test-daemon.js';
import { until } from '../support/poll.js';

afterEach(stopTestDaemons);

const NAMES = Array.from({ length: 10 }, (_, i) => `svc${i}.example.com`);

describe('egress names with an injected resolver', () => {
  it('100 containers x the same 10 names: 10 sets (an IPv4-only host), 20 lookups, one write, then rest', async () => {
    const asked: Array<`${string}/${Family}`> = [];
    const lookup: Lookup = async (name, family) => {
      asked.push(`${name}/${family}`);
      const i = NAMES.indexOf(name);
      return family === 4 ? [{ address: `198.51.100.${i + 1}`, ttl: 3600 }] : [];
    };
    const ipsets = new FakeIpsets();
    const docker = new FakeDocker();
    for (let n = 0; n < 100; n++) {
      docker.start(container(`c${n}`, { ip: `172.17.${Math.floor(n / 200)}.${(n % 200) + 2}`, labels: { 'dockgate.egress': NAMES.map((x) => `${x}:443`).join(',') } }));
    }
    const { daemon } = startTestDaemon(docker, testConfig(), { extra: { lookup, ipsets } });
    await daemon.ready;
    await until(() => [...ipsets.sets.values()].filter((s) => s.members.size > 0).length === 10, { what: 'every name answered and written' });
    expect(ipsets.sets.size).toBe(10);
    expect(new Set(asked).size).toBe(20);
    const writes = () => ipsets.calls.filter((c) => c.startsWith('add '));
    expect(writes()).toHaveLength(1);
    // At rest (answers good for an hour): no lookup, no write.
    const before = { asked: asked.length, writes: writes().length };
    await new Promise((r) => setTimeout(r, 300));
    expect({ asked: asked.length, writes: writes().length }).toEqual(before);
  });
});
