// How commands are named for metrics and the debug log: the program's basename and a verb from a
// fixed list, never anything taken from the arguments that could grow the number of series.
import { describe, expect, it } from 'vitest';
import { commandName } from '../../src/dataplane/command-name.js';

const name = (file: string, ...args: string[]): string => {
  const n = commandName(file, args);
  return `${n.program} ${n.verb}`;
};

describe('commandName', () => {
  it('names the iptables tools of every backend by save and restore, whatever the table', () => {
    expect(name('iptables-save', '-t', 'filter')).toBe('iptables-save save');
    expect(name('/usr/sbin/ip6tables-legacy-save')).toBe('ip6tables-legacy-save save');
    expect(name('iptables-nft-restore', '-w', '5', '--noflush')).toBe('iptables-nft-restore restore');
    expect(name('iptables-save', '--version')).toBe('iptables-save version');
  });

  it("names ipset by its command word, after its options", () => {
    expect(name('ipset', 'save')).toBe('ipset save');
    expect(name('ipset', '-exist', 'restore')).toBe('ipset restore');
    expect(name('ipset', 'destroy', 'dockgate-e4-0123456789abcdef')).toBe('ipset destroy');
  });

  it('names nft by what it did: list, write, monitor, the word of a JSON command', () => {
    expect(name('nft', '-j', 'list', 'table', 'bridge', 'dockgate')).toBe('nft list');
    expect(name('nft', '-f', '-')).toBe('nft write');
    expect(name('nft', 'monitor')).toBe('nft monitor');
    expect(name('nft', '-j', JSON.stringify({ nftables: [{ list: { tables: null } }] }))).toBe('nft list');
    expect(name('nft', '-j', JSON.stringify({ nftables: [{ insert: { rule: { table: 'filter', handle: 7 } } }] }))).toBe('nft insert');
    expect(name('nft', '-j', JSON.stringify({ nftables: [{ add: {} }, { delete: {} }] }))).toBe('nft batch');
  });

  it('names conntrack, ip, cat, systemd-notify and sh by a fixed word', () => {
    expect(name('conntrack', '-D', '-p', 'tcp', '--orig-port-dst', '8080', '--orig-dst', '10.0.0.5')).toBe('conntrack delete');
    expect(name('ip', '-j', '-6', 'route', 'show', 'table', 'main')).toBe('ip route');
    expect(name('ip', '-j', 'addr', 'show')).toBe('ip addr');
    expect(name('cat', '/proc/sys/net/ipv4/ip_forward')).toBe('cat read');
    expect(name('systemd-notify', '--ready', '--pid=42')).toBe('systemd-notify ready');
    expect(name('sh', '-c', 'nft -f -')).toBe('sh script');
  });

  it('through nsenter or unshare, names the program they run', () => {
    expect(name('nsenter', '--net=/proc/4242/ns/net', 'ip', '-j', 'link', 'show')).toBe('ip link');
    expect(name('unshare', '--net', '--', 'sh', '-c', 'nft -f -')).toBe('sh script');
    expect(name('nsenter')).toBe('nsenter other');
  });

  it('falls back to "other", never to an argument: addresses and ids stay out of the verb', () => {
    expect(name('ipset', 'add', 'x')).toBe('ipset add');
    expect(name('ipset', '10.0.0.5')).toBe('ipset other');
    expect(name('ip', '10.0.0.5')).toBe('ip other');
    expect(name('conntrack', '10.0.0.5')).toBe('conntrack other');
    expect(name('nft', '-j', '{not json')).toBe('nft other');
    expect(name('nft', '-j', JSON.stringify({ nftables: [{ 'a3f9c2e1b0d4': {} }] }))).toBe('nft other');
    expect(name('some-tool', 'a3f9c2e1b0d4')).toBe('some-tool other');
  });
});
