// `ip -j addr` checked before it is read: a malformed answer is an error naming the command; an
// entry of a kind this parser does not read is skipped, not a crash.
import { describe, expect, it } from 'vitest';
import { parseIpAddr } from '../../src/net/addresses.js';

describe('parseIpAddr', () => {
  it('an answer that is not a list, or not JSON, is an error naming the command', () => {
    expect(parseIpAddr('{"ifname":"eth0"}', 'ip -j addr show')).toEqual({
      ok: false,
      error: 'ip -j addr show printed unexpected JSON at the top level: Invalid input: expected array, received object',
    });
    expect(parseIpAddr('[{"ifname":', 'ip -j addr show')).toMatchObject({ ok: false, error: expect.stringMatching(/^ip -j addr show printed something that is not JSON: /) });
    expect(parseIpAddr('', 'ip -j addr show')).toEqual({ ok: true, value: [] });
  });

  it('links without a name, addresses of the wrong types and odd flags are skipped, the rest is read', () => {
    const text = JSON.stringify([
      null,
      'eth9',
      { ifindex: 2 },
      { ifname: 7 },
      {
        ifname: 'eth0',
        flags: 'UP',
        addr_info: [null, { family: 'inet', local: 10, prefixlen: 24 }, { family: 'inet', local: '192.0.2.2', prefixlen: '24' }, { family: 'inet', local: '192.0.2.3', prefixlen: 24 }],
      },
      { ifname: 'lo', flags: ['LOOPBACK', 'UP'], addr_info: 'none' },
    ]);
    expect(parseIpAddr(text)).toEqual({
      ok: true,
      value: [
        { name: 'eth0', loopback: false, addresses: [{ family: 4, address: '192.0.2.3', prefixLen: 24 }] },
        { name: 'lo', loopback: true, addresses: [] },
      ],
    });
  });
});
