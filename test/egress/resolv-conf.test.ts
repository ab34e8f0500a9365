import { describe, expect, it } from 'vitest';
import { parseResolvConf, readResolvConf } from '../../src/egress/resolv-conf.js';

describe('resolv.conf', () => {
  it('takes the nameserver lines, canonical and once each', () => {
    const text = ['# generated', 'search example.org', 'nameserver 10.0.0.53', 'nameserver  2001:DB8::53 ', '  nameserver 10.0.0.53', 'nameserver fe80::1%eth0', 'nameserver bogus', 'options ndots:2', ';nameserver 10.9.9.9'].join('\n');
    expect(parseResolvConf(text)).toEqual(['10.0.0.53', '2001:db8::53']);
  });

  it('a missing file is no nameservers, with the reason', async () => {
    const r = await readResolvConf('/nonexistent/dockgate/resolv.conf');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain('ENOENT');
  });
});
