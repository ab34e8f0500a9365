// `ip -j link show` checked before it is read (pure: no process runs here).
import { describe, expect, it } from 'vitest';
import { parseLinks } from '../../src/dataplane/bridge-ports.js';

describe('parseLinks', () => {
  it('reads the fields used; optional fields of another type are left out; entries without index and name are skipped', () => {
    const text = JSON.stringify([
      { ifindex: 1, ifname: 'lo', address: '00:00:00:00:00:00' },
      { ifindex: 7, ifname: 'veth1a2b3c4', link_index: 2, address: 'AA:BB:CC:DD:EE:FF', master: 'docker0' },
      { ifindex: 8, ifname: 'veth9', link_index: '2', master: 3 },
      { ifname: 'noindex' },
      null,
    ]);
    expect(parseLinks(text)).toEqual({
      ok: true,
      value: [
        { ifindex: 1, ifname: 'lo', address: '00:00:00:00:00:00' },
        { ifindex: 7, ifname: 'veth1a2b3c4', link_index: 2, address: 'aa:bb:cc:dd:ee:ff', master: 'docker0' },
        { ifindex: 8, ifname: 'veth9' },
      ],
    });
  });

  it('an answer that is not a list or not JSON is an error naming the command, not an empty list', () => {
    expect(parseLinks('{}', 'ip -j link show')).toMatchObject({ ok: false, error: expect.stringMatching(/^ip -j link show printed unexpected JSON at the top level: /) });
    expect(parseLinks('[{', 'ip -j link show')).toMatchObject({ ok: false, error: expect.stringMatching(/^ip -j link show printed something that is not JSON: /) });
  });
});
