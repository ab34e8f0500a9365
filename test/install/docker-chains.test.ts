import { describe, expect, it } from 'vitest';
import { DOCKER_CHAINS, dockerChainsIn, familyTable, renderDockerFlush, ruleTarget } from '../../src/install/docker-chains.js';
import { type KernelState, parseSave } from '../../src/plan/kernel-state.js';

// What dockerd 20.10 leaves behind, plus an admin's rules that must survive.
const SAVE = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ADMIN - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
:DOCKGATE-INPUT - [0:0]
-A INPUT -m comment --comment dockgate -j DOCKGATE-INPUT
-A INPUT -i lo -j ACCEPT
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -m comment --comment "admin: keep this" -j RETURN
COMMIT
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
`;

describe('Docker chains', () => {
  it('finds Docker\'s chains by exact name, never by prefix', () => {
    const found = dockerChainsIn(parseSave(SAVE));
    expect(found).toEqual([
      { table: 'nat', chain: 'DOCKER', rules: 1 },
      { table: 'filter', chain: 'DOCKER', rules: 0 },
      { table: 'filter', chain: 'DOCKER-ISOLATION-STAGE-1', rules: 2 },
      { table: 'filter', chain: 'DOCKER-ISOLATION-STAGE-2', rules: 2 },
      { table: 'filter', chain: 'DOCKER-USER', rules: 1 },
    ]);
  });

  it('knows every chain dockerd 20.10 to 29 creates', () => {
    expect([...DOCKER_CHAINS].sort()).toEqual([
      'DOCKER', 'DOCKER-BRIDGE', 'DOCKER-CT', 'DOCKER-FORWARD', 'DOCKER-INGRESS', 'DOCKER-INTERNAL',
      'DOCKER-ISOLATION-STAGE-1', 'DOCKER-ISOLATION-STAGE-2', 'DOCKER-USER',
    ]);
  });

  it('with --force: deletes the jumps into them, flushes them all, then deletes them, per table', () => {
    const f = renderDockerFlush(parseSave(SAVE), { force: true });
    expect(f.refused).toBe(false);
    expect(f.text).toBe(`*nat
-D PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-D OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-F DOCKER
-X DOCKER
COMMIT
*filter
-D FORWARD -j DOCKER-USER
-D FORWARD -j DOCKER-ISOLATION-STAGE-1
-D FORWARD -o docker0 -j DOCKER
-F DOCKER
-F DOCKER-ISOLATION-STAGE-1
-F DOCKER-ISOLATION-STAGE-2
-F DOCKER-USER
-X DOCKER
-X DOCKER-ISOLATION-STAGE-1
-X DOCKER-ISOLATION-STAGE-2
-X DOCKER-USER
COMMIT
`);
    // Docker's rules in built-in chains that are not jumps, and the admin's DOCKER-ADMIN, stay.
    expect(f.text).not.toContain('MASQUERADE');
    expect(f.text).not.toContain('RELATED,ESTABLISHED');
    expect(f.text).not.toContain('DOCKER-ADMIN');
    expect(f.text).not.toContain('DOCKGATE');
    expect(f.jumps).toHaveLength(5);
    expect(f.adminRules).toEqual([{ table: 'filter', chain: 'DOCKER-USER', line: '-m comment --comment "admin: keep this" -j RETURN' }]);
  });

  it('without --force: refuses to remove an admin\'s rule in DOCKER-USER, and removes nothing at all', () => {
    const f = renderDockerFlush(parseSave(SAVE));
    expect(f.refused).toBe(true);
    expect(f.text).toBe('');
    expect(f.adminRules).toEqual([{ table: 'filter', chain: 'DOCKER-USER', line: '-m comment --comment "admin: keep this" -j RETURN' }]);
  });

  it('renders nothing when there is nothing of Docker\'s', () => {
    expect(renderDockerFlush(parseSave('*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n'))).toEqual({
      text: '',
      chains: [],
      jumps: [],
      rules: [],
      adminRules: [],
      refused: false,
    });
  });

  it.each([
    ['-j DOCKER', 'DOCKER'],
    ['-o docker0 -j DOCKER-USER', 'DOCKER-USER'],
    ['-g DOCKER', 'DOCKER'],
    ['-m comment --comment "x -j DOCKER here" -j ACCEPT', 'ACCEPT'],
    ['-j LOG --log-prefix "to -j DOCKER \\" now"', 'LOG'],
    ['-s 1.2.3.4', undefined],
  ])('ruleTarget(%j)', (line, target) => {
    expect(ruleTarget(line)).toBe(target);
  });
});

// ---------------------------------------------------------------------------------------------
// Whole hosts as `iptables-save` prints them, before and after the flush. The "after" side is what
// must remain: everything of the admin's and of dockgate's, and Docker's non-jump rules in the
// built-in chains (MASQUERADE, FORWARD accepts) that the documented flush leaves alone.

/** dockgate's own chains and jumps, as `dockgate run` leaves them: never touched by the flush. */
const DOCKGATE_RAW = [':DOCKGATE-RAW - [0:0]', '-A PREROUTING -m comment --comment dockgate -j DOCKGATE-RAW',
  '-A DOCKGATE-RAW -d 172.17.0.0/16 ! -i docker0 -m comment --comment "dockgate no direct access to bridge" -j DROP'];
const DOCKGATE_FILTER = [':DOCKGATE-INPUT - [0:0]', ':DOCKGATE-FORWARD - [0:0]', ':DOCKGATE-USER - [0:0]',
  '-A INPUT -m comment --comment dockgate -j DOCKGATE-INPUT', '-A FORWARD -m comment --comment dockgate -j DOCKGATE-FORWARD',
  '-A DOCKGATE-FORWARD -m comment --comment dockgate -j DOCKGATE-USER'];
/** An admin's host firewall, including rules shaped like Docker's that are not Docker's. */
const ADMIN_RAW = [
  // anti-spoofing on the uplink: Docker's direct-access shape, but eth0 is no Docker bridge
  '-A PREROUTING -d 10.0.0.5/32 ! -i eth0 -j DROP',
  '-A PREROUTING -s 192.0.2.0/24 -j DROP',
];
const ADMIN_FILTER = [':DOCKER-ADMIN - [0:0]', '-A INPUT -i lo -j ACCEPT', '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT',
  '-A INPUT -j DOCKER-ADMIN', '-A DOCKER-ADMIN -s 198.51.100.7/32 -j DROP',
  '-A FORWARD -m comment --comment "admin: not -j DOCKER" -j ACCEPT'];

function save(tables: { raw?: string[]; filter?: string[]; nat?: string[] }): string {
  const head: Record<string, string[]> = {
    raw: [':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'],
    filter: [':INPUT DROP [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]'],
    nat: [':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]'],
  };
  const out = ['# Generated by iptables-save v1.8.9 (nf_tables) on Mon Jun  2 10:00:00 2025'];
  for (const t of ['raw', 'filter', 'nat'] as const) {
    const body = tables[t] ?? [];
    // chain declarations first, as iptables-save prints them
    out.push(`*${t}`, ...head[t]!, ...body.filter((l) => l.startsWith(':')), ...body.filter((l) => !l.startsWith(':')), 'COMMIT');
  }
  return `${out.join('\n')}\n# Completed on Mon Jun  2 10:00:00 2025\n`;
}

// dockerd 26.1: docker0 with web (172.17.0.2, -p 8080:80) and a user network br-5f3c1a2b4d6e.
const D26_NAT_KEPT = [
  '-A POSTROUTING -s 172.18.0.0/16 ! -o br-5f3c1a2b4d6e -j MASQUERADE',
  '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE',
  '-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE',
];
const D26_FILTER_KEPT = [
  '-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  '-A FORWARD -i docker0 ! -o docker0 -j ACCEPT',
  '-A FORWARD -i docker0 -o docker0 -j ACCEPT',
  '-A FORWARD -o br-5f3c1a2b4d6e -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  '-A FORWARD -i br-5f3c1a2b4d6e ! -o br-5f3c1a2b4d6e -j ACCEPT',
  '-A FORWARD -i br-5f3c1a2b4d6e -o br-5f3c1a2b4d6e -j ACCEPT',
];
const DOCKER26 = {
  raw: [...DOCKGATE_RAW, ...ADMIN_RAW],
  filter: [
    ...DOCKGATE_FILTER, ...ADMIN_FILTER,
    ':DOCKER - [0:0]', ':DOCKER-ISOLATION-STAGE-1 - [0:0]', ':DOCKER-ISOLATION-STAGE-2 - [0:0]', ':DOCKER-USER - [0:0]',
    '-A FORWARD -j DOCKER-USER',
    '-A FORWARD -j DOCKER-ISOLATION-STAGE-1',
    '-A FORWARD -o docker0 -j DOCKER',
    '-A FORWARD -o br-5f3c1a2b4d6e -j DOCKER',
    ...D26_FILTER_KEPT,
    '-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT',
    '-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2',
    '-A DOCKER-ISOLATION-STAGE-1 -i br-5f3c1a2b4d6e ! -o br-5f3c1a2b4d6e -j DOCKER-ISOLATION-STAGE-2',
    '-A DOCKER-ISOLATION-STAGE-1 -j RETURN',
    '-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP',
    '-A DOCKER-ISOLATION-STAGE-2 -o br-5f3c1a2b4d6e -j DROP',
    '-A DOCKER-ISOLATION-STAGE-2 -j RETURN',
    '-A DOCKER-USER -j RETURN',
  ],
  nat: [
    ':DOCKER - [0:0]',
    '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
    '-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER',
    ...D26_NAT_KEPT,
    '-A DOCKER -i br-5f3c1a2b4d6e -j RETURN',
    '-A DOCKER -i docker0 -j RETURN',
    '-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80',
  ],
};

// dockerd 28.x filter/nat: DOCKER-FORWARD, -CT, -BRIDGE; DOCKER-USER created empty. Networks:
// docker0 (web 172.17.0.2 -p 8080:80, db 127.0.0.1:5432), br-5f3c1a2b4d6e, and a bridge named by
// com.docker.network.bridge.name=dmz0.
const D28_FILTER = [
  ':DOCKER - [0:0]', ':DOCKER-BRIDGE - [0:0]', ':DOCKER-CT - [0:0]', ':DOCKER-FORWARD - [0:0]',
  ':DOCKER-ISOLATION-STAGE-1 - [0:0]', ':DOCKER-ISOLATION-STAGE-2 - [0:0]', ':DOCKER-USER - [0:0]',
  '-A FORWARD -j DOCKER-USER',
  '-A FORWARD -j DOCKER-FORWARD',
  '-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT',
  '-A DOCKER ! -i docker0 -o docker0 -j DROP',
  '-A DOCKER ! -i br-5f3c1a2b4d6e -o br-5f3c1a2b4d6e -j DROP',
  '-A DOCKER ! -i dmz0 -o dmz0 -j DROP',
  '-A DOCKER-BRIDGE -o docker0 -j DOCKER',
  '-A DOCKER-BRIDGE -o br-5f3c1a2b4d6e -j DOCKER',
  '-A DOCKER-BRIDGE -o dmz0 -j DOCKER',
  '-A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  '-A DOCKER-CT -o br-5f3c1a2b4d6e -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  '-A DOCKER-CT -o dmz0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  '-A DOCKER-FORWARD -j DOCKER-CT',
  '-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1',
  '-A DOCKER-FORWARD -j DOCKER-BRIDGE',
  '-A DOCKER-FORWARD -i docker0 -j ACCEPT',
  '-A DOCKER-FORWARD -i br-5f3c1a2b4d6e -j ACCEPT',
  '-A DOCKER-FORWARD -i dmz0 -j ACCEPT',
  '-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2',
  '-A DOCKER-ISOLATION-STAGE-1 -i br-5f3c1a2b4d6e ! -o br-5f3c1a2b4d6e -j DOCKER-ISOLATION-STAGE-2',
  '-A DOCKER-ISOLATION-STAGE-1 -i dmz0 ! -o dmz0 -j DOCKER-ISOLATION-STAGE-2',
  '-A DOCKER-ISOLATION-STAGE-2 -o dmz0 -j DROP',
  '-A DOCKER-ISOLATION-STAGE-2 -o br-5f3c1a2b4d6e -j DROP',
  '-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP',
];
const D28_NAT_KEPT = [
  '-A POSTROUTING -s 172.19.0.0/16 ! -o dmz0 -j MASQUERADE',
  '-A POSTROUTING -s 172.18.0.0/16 ! -o br-5f3c1a2b4d6e -j MASQUERADE',
  '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE',
];
const D28_NAT = [
  ':DOCKER - [0:0]',
  '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
  '-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER',
  ...D28_NAT_KEPT,
  '-A DOCKER -i dmz0 -j RETURN',
  '-A DOCKER -i br-5f3c1a2b4d6e -j RETURN',
  '-A DOCKER -i docker0 -j RETURN',
  '-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 5432 -j DNAT --to-destination 172.17.0.3:5432',
  '-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80',
];
/** Docker's loopback filtering: protective, and the shape of a common admin rule; it stays. */
const D28_LOOPBACK = '-A PREROUTING -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 5432 -j DROP';

// 28.0.0/28.0.1 dropped direct access per published port.
const DOCKER28_0 = {
  raw: [...DOCKGATE_RAW, ...ADMIN_RAW,
    '-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -p tcp -m tcp --dport 80 -j DROP',
    D28_LOOPBACK],
  filter: [...DOCKGATE_FILTER, ...ADMIN_FILTER, ...D28_FILTER],
  nat: D28_NAT,
};

// 28.0.2 and later drop direct access per container address, on every network it is on; with
// com.docker.network.bridge.trusted_host_interfaces an ACCEPT for that interface comes first.
const DOCKER28 = {
  raw: [...DOCKGATE_RAW, ...ADMIN_RAW,
    '-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP',
    '-A PREROUTING -d 172.17.0.3/32 ! -i docker0 -j DROP',
    D28_LOOPBACK,
    '-A PREROUTING -d 172.18.0.2/32 ! -i br-5f3c1a2b4d6e -j DROP',
    '-A PREROUTING -d 172.19.0.2/32 -i vpn0 -j ACCEPT',
    '-A PREROUTING -d 172.19.0.2/32 ! -i dmz0 -j DROP'],
  filter: [...DOCKGATE_FILTER, ...ADMIN_FILTER, ...D28_FILTER],
  nat: D28_NAT,
};

// dockerd 29: DOCKER-INTERNAL for --internal networks; no isolation chains, no DOCKER-USER jump
// when the chain was never created on this host.
const DOCKER29 = {
  raw: [...DOCKGATE_RAW, ...ADMIN_RAW, '-A PREROUTING -d 192.168.0.2/32 ! -i br-0a1b2c3d4e5f -j DROP'],
  filter: [...DOCKGATE_FILTER, ...ADMIN_FILTER,
    ':DOCKER - [0:0]', ':DOCKER-BRIDGE - [0:0]', ':DOCKER-CT - [0:0]', ':DOCKER-FORWARD - [0:0]', ':DOCKER-INTERNAL - [0:0]',
    '-A FORWARD -j DOCKER-FORWARD',
    '-A DOCKER -d 192.168.0.2/32 ! -i br-0a1b2c3d4e5f -o br-0a1b2c3d4e5f -p tcp -m tcp --dport 80 -j ACCEPT',
    '-A DOCKER ! -i br-0a1b2c3d4e5f -o br-0a1b2c3d4e5f -j DROP',
    '-A DOCKER-BRIDGE -o br-0a1b2c3d4e5f -j DOCKER',
    '-A DOCKER-CT -o br-0a1b2c3d4e5f -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A DOCKER-FORWARD -j DOCKER-CT',
    '-A DOCKER-FORWARD -j DOCKER-INTERNAL',
    '-A DOCKER-FORWARD -j DOCKER-BRIDGE',
    '-A DOCKER-FORWARD -i br-0a1b2c3d4e5f -j ACCEPT',
    '-A DOCKER-FORWARD -i br-99aa88bb77cc -o br-99aa88bb77cc -j DROP',
    '-A DOCKER-INTERNAL ! -s 192.168.1.0/24 -o br-99aa88bb77cc -j DROP',
    '-A DOCKER-INTERNAL ! -d 192.168.1.0/24 -i br-99aa88bb77cc -j DROP'],
  nat: [':DOCKER - [0:0]',
    '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
    '-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER',
    '-A POSTROUTING -s 192.168.0.0/24 ! -o br-0a1b2c3d4e5f -j MASQUERADE',
    '-A DOCKER ! -i br-0a1b2c3d4e5f -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.168.0.2:80'],
};

// A host where an older `install --flush-docker-chains` already removed the chains: only the
// raw rules are left, so Docker's default bridge names are the only evidence.
const RAW_ONLY = {
  raw: [...DOCKGATE_RAW, ...ADMIN_RAW,
    '-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP',
    '-A PREROUTING -d 172.18.0.2/32 ! -i br-5f3c1a2b4d6e -j DROP',
    // custom bridge name, and no Docker chain left to tell it is Docker's: left alone
    '-A PREROUTING -d 172.19.0.2/32 ! -i dmz0 -j DROP'],
  filter: [...DOCKGATE_FILTER, ...ADMIN_FILTER],
};

const KEPT_ALL = { raw: [...DOCKGATE_RAW, ...ADMIN_RAW], filter: [...DOCKGATE_FILTER, ...ADMIN_FILTER] };

const cases: Array<{
  name: string;
  before: { raw?: string[]; filter?: string[]; nat?: string[] };
  after: { raw?: string[]; filter?: string[]; nat?: string[] };
  chains: string[];
  rules: string[];
}> = [
  {
    name: 'Docker 26',
    before: DOCKER26,
    after: { ...KEPT_ALL, filter: [...KEPT_ALL.filter, ...D26_FILTER_KEPT], nat: D26_NAT_KEPT },
    chains: ['filter/DOCKER', 'filter/DOCKER-ISOLATION-STAGE-1', 'filter/DOCKER-ISOLATION-STAGE-2', 'filter/DOCKER-USER', 'nat/DOCKER'],
    rules: [],
  },
  {
    name: 'Docker 28.0 (per-port direct-access drops)',
    before: DOCKER28_0,
    after: { raw: [...KEPT_ALL.raw, D28_LOOPBACK], filter: KEPT_ALL.filter, nat: D28_NAT_KEPT },
    chains: ['filter/DOCKER', 'filter/DOCKER-BRIDGE', 'filter/DOCKER-CT', 'filter/DOCKER-FORWARD', 'filter/DOCKER-ISOLATION-STAGE-1',
      'filter/DOCKER-ISOLATION-STAGE-2', 'filter/DOCKER-USER', 'nat/DOCKER'],
    rules: ['raw/PREROUTING -d 172.17.0.2/32 ! -i docker0 -p tcp -m tcp --dport 80 -j DROP'],
  },
  {
    name: 'Docker 28.5 (per-address direct-access drops, trusted interface)',
    before: DOCKER28,
    after: { raw: [...KEPT_ALL.raw, D28_LOOPBACK], filter: KEPT_ALL.filter, nat: D28_NAT_KEPT },
    chains: ['filter/DOCKER', 'filter/DOCKER-BRIDGE', 'filter/DOCKER-CT', 'filter/DOCKER-FORWARD', 'filter/DOCKER-ISOLATION-STAGE-1',
      'filter/DOCKER-ISOLATION-STAGE-2', 'filter/DOCKER-USER', 'nat/DOCKER'],
    rules: [
      'raw/PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP',
      'raw/PREROUTING -d 172.17.0.3/32 ! -i docker0 -j DROP',
      'raw/PREROUTING -d 172.18.0.2/32 ! -i br-5f3c1a2b4d6e -j DROP',
      'raw/PREROUTING -d 172.19.0.2/32 -i vpn0 -j ACCEPT',
      'raw/PREROUTING -d 172.19.0.2/32 ! -i dmz0 -j DROP',
    ],
  },
  {
    name: 'Docker 29 (DOCKER-INTERNAL)',
    before: DOCKER29,
    after: { ...KEPT_ALL, nat: ['-A POSTROUTING -s 192.168.0.0/24 ! -o br-0a1b2c3d4e5f -j MASQUERADE'] },
    chains: ['filter/DOCKER', 'filter/DOCKER-BRIDGE', 'filter/DOCKER-CT', 'filter/DOCKER-FORWARD', 'filter/DOCKER-INTERNAL', 'nat/DOCKER'],
    rules: ['raw/PREROUTING -d 192.168.0.2/32 ! -i br-0a1b2c3d4e5f -j DROP'],
  },
  {
    name: 'raw rules left by an older flush',
    before: RAW_ONLY,
    after: { raw: [...KEPT_ALL.raw, '-A PREROUTING -d 172.19.0.2/32 ! -i dmz0 -j DROP'], filter: KEPT_ALL.filter },
    chains: [],
    rules: ['raw/PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP', 'raw/PREROUTING -d 172.18.0.2/32 ! -i br-5f3c1a2b4d6e -j DROP'],
  },
  {
    name: 'nothing of Docker\'s',
    before: KEPT_ALL,
    after: KEPT_ALL,
    chains: [],
    rules: [],
  },
];

/**
 * Applies `iptables-restore --noflush` input to a parsed state the way the kernel does: -D needs
 * the exact rule, -X needs an empty chain that nothing jumps to. Throws where the kernel would fail.
 */
function applyRestore(state: KernelState, text: string): KernelState {
  const out: KernelState = new Map(
    [...state].map(([t, s]) => [t, { chains: new Map([...s.chains].map(([c, r]) => [c, [...r]])), policies: new Map(s.policies) }]),
  );
  let table: ReturnType<KernelState['get']>;
  for (const line of text.split('\n')) {
    if (line === '' || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      table = out.get(line.slice(1) as 'filter');
      if (!table) throw new Error(`no table ${line}`);
      continue;
    }
    const m = /^(-[DFX]) (\S+)(?: (.*))?$/.exec(line);
    if (!m || !table) throw new Error(`unexpected restore line ${line}`);
    const [, op, chain, rest] = m;
    const rules = table.chains.get(chain!);
    if (!rules) throw new Error(`${line}: no chain ${chain}`);
    if (op === '-D') {
      const i = rules.indexOf(rest ?? '');
      if (i < 0) throw new Error(`${line}: no such rule`);
      rules.splice(i, 1);
    } else if (op === '-F') {
      rules.length = 0;
    } else {
      if (rules.length > 0) throw new Error(`${line}: chain not empty`);
      for (const [c, rs] of table.chains) {
        if (rs.some((r) => ruleTarget(r) === chain)) throw new Error(`${line}: ${c} still jumps to it`);
      }
      table.chains.delete(chain!);
    }
  }
  return out;
}

/** Chains (sorted) and their rules (in order), per table: what the comparison cares about. */
function shape(state: KernelState): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  for (const [t, s] of state) {
    out[t] = Object.fromEntries([...s.chains].sort(([a], [b]) => a.localeCompare(b)));
  }
  return out;
}

describe('flushing real hosts\' Docker leftovers', () => {
  it.each(cases)('$name: removes Docker\'s chains, the jumps into them and its raw rules, and nothing else', (c) => {
    const before = parseSave(save(c.before));
    const f = renderDockerFlush(before);
    expect(f.refused).toBe(false);
    expect(f.adminRules).toEqual([]);
    expect(f.chains.map((x) => `${x.table}/${x.chain}`).sort()).toEqual([...c.chains].sort());
    expect(f.rules.map((r) => `${r.table}/${r.chain} ${r.line}`)).toEqual(c.rules);
    expect(shape(applyRestore(before, f.text))).toEqual(shape(parseSave(save(c.after))));
    expect(f.text).not.toMatch(/DOCKGATE|DOCKER-ADMIN|10\.0\.0\.5|192\.0\.2\.0|127\.0\.0\.1/);
    // Run again on what is left: nothing more to do.
    const again = renderDockerFlush(applyRestore(before, f.text));
    expect(again.text).toBe('');
  });

  const ADMIN_USER = ['-A DOCKER-USER -s 203.0.113.0/24 -j DROP', '-A DOCKER-USER -i eth0 -p tcp -m tcp --dport 3306 -j DROP'];
  it.each([
    ['Docker 26, rules inserted before the RETURN', { ...DOCKER26, filter: DOCKER26.filter.flatMap((l) => (l === '-A DOCKER-USER -j RETURN' ? [...ADMIN_USER, l] : [l])) }, ADMIN_USER],
    ['Docker 28, rules in the empty chain', { ...DOCKER28, filter: [...DOCKER28.filter, ...ADMIN_USER] }, ADMIN_USER],
    ['Docker 28, a second RETURN is the admin\'s', { ...DOCKER28, filter: [...DOCKER28.filter, '-A DOCKER-USER -j RETURN', '-A DOCKER-USER -j RETURN'] }, ['-A DOCKER-USER -j RETURN']],
  ])('%s: refuses without --force, naming the rules; removes them with it', (_name, tables, adminLines) => {
    const before = parseSave(save(tables));
    const refused = renderDockerFlush(before);
    expect(refused.refused).toBe(true);
    expect(refused.text).toBe('');
    expect(refused.adminRules).toEqual(adminLines.map((l) => ({ table: 'filter', chain: 'DOCKER-USER', line: l.replace('-A DOCKER-USER ', '') })));

    const forced = renderDockerFlush(before, { force: true });
    expect(forced.refused).toBe(false);
    expect(forced.adminRules).toEqual(refused.adminRules);
    const left = applyRestore(before, forced.text);
    expect(left.get('filter')!.chains.has('DOCKER-USER')).toBe(false);
    expect(left.get('filter')!.chains.get('DOCKGATE-USER')).toEqual([]);
  });

  it('an admin\'s own jump into DOCKER-USER is the admin\'s too: refused without --force', () => {
    const before = parseSave(save({ ...DOCKER28, filter: [...DOCKER28.filter, '-A INPUT -j DOCKER-USER'] }));
    const refused = renderDockerFlush(before);
    expect(refused.refused).toBe(true);
    expect(refused.adminRules).toEqual([{ table: 'filter', chain: 'INPUT', line: '-j DOCKER-USER' }]);
    const forced = renderDockerFlush(before, { force: true });
    expect(applyRestore(before, forced.text).get('filter')!.chains.get('INPUT')).not.toContain('-j DOCKER-USER');
  });

  it('Docker\'s own FORWARD jump and default lone RETURN are not admin rules', () => {
    expect(renderDockerFlush(parseSave(save(DOCKER26))).adminRules).toEqual([]);
    expect(renderDockerFlush(parseSave(save(DOCKER28))).adminRules).toEqual([]);
  });

  it('a duplicated Docker raw rule is removed as often as it is there', () => {
    const dup = '-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP';
    const before = parseSave(save({ ...DOCKER28, raw: [...DOCKER28.raw, dup] }));
    const left = applyRestore(before, renderDockerFlush(before).text);
    expect(left.get('raw')!.chains.get('PREROUTING')).not.toContain(dup.slice('-A PREROUTING '.length));
  });

  it.each([
    ['loopback filtering', '-d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 5432 -j DROP'],
    ['a subnet, not one address', '-d 172.17.0.0/16 ! -i docker0 -j DROP'],
    ['more matches than Docker writes', '-d 172.17.0.2/32 ! -i docker0 -m comment --comment admin -j DROP'],
    ['a source match', '-s 10.1.1.1/32 -d 172.17.0.2/32 ! -i docker0 -j DROP'],
    ['not negated', '-d 172.17.0.2/32 -i docker0 -j DROP'],
    ['another verdict', '-d 172.17.0.2/32 ! -i docker0 -j LOG'],
    ['an ACCEPT with no Docker drop for that address', '-d 172.17.0.9/32 -i vpn0 -j ACCEPT'],
    ['an interface that only looks like a bridge', '-d 172.17.0.2/32 ! -i br-lan -j DROP'],
  ])('leaves raw PREROUTING rules that are not Docker\'s exact shapes: %s', (_what, line) => {
    const f = renderDockerFlush(parseSave(save({ raw: [`-A PREROUTING ${line}`], filter: D28_FILTER, nat: D28_NAT })));
    expect(f.rules).toEqual([]);
    expect(f.text).not.toContain('*raw');
  });
});

// What Docker 28 writes into ip6tables for a dual-stack bridge (ip6tables on, the default since 27):
// the same chains, IPv6 addresses, and its raw-table direct-access drop per /128.
const DOCKER28_V6 = {
  raw: ['-A PREROUTING -d fd00:db8:1::2/128 ! -i br-0123456789ab -j DROP', '-A PREROUTING -d fd00:db8:9::1/128 ! -i eth0 -j DROP'],
  filter: [
    ':DOCKER - [0:0]', ':DOCKER-BRIDGE - [0:0]', ':DOCKER-CT - [0:0]', ':DOCKER-FORWARD - [0:0]',
    ':DOCKER-ISOLATION-STAGE-1 - [0:0]', ':DOCKER-ISOLATION-STAGE-2 - [0:0]', ':DOCKER-USER - [0:0]', ':DOCKGATE-FORWARD - [0:0]',
    '-A FORWARD -m comment --comment dockgate -j DOCKGATE-FORWARD',
    '-A FORWARD -j DOCKER-USER', '-A FORWARD -j DOCKER-FORWARD',
    '-A DOCKER -d fd00:db8:1::2/128 ! -i br-0123456789ab -o br-0123456789ab -p tcp -m tcp --dport 80 -j ACCEPT',
    '-A DOCKER ! -i br-0123456789ab -o br-0123456789ab -j DROP',
    '-A DOCKER-BRIDGE -o br-0123456789ab -j DOCKER',
    '-A DOCKER-CT -o br-0123456789ab -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A DOCKER-FORWARD -j DOCKER-CT', '-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1', '-A DOCKER-FORWARD -j DOCKER-BRIDGE',
    '-A DOCKER-FORWARD -i br-0123456789ab -j ACCEPT',
    '-A DOCKER-ISOLATION-STAGE-1 -i br-0123456789ab ! -o br-0123456789ab -j DOCKER-ISOLATION-STAGE-2',
    '-A DOCKER-ISOLATION-STAGE-2 -o br-0123456789ab -j DROP',
  ],
  nat: [
    ':DOCKER - [0:0]',
    '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
    '-A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL -j DOCKER',
    '-A POSTROUTING -s fd00:db8:1::/64 ! -o br-0123456789ab -j MASQUERADE',
    '-A DOCKER ! -i br-0123456789ab -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:db8:1::2]:80',
  ],
};

describe("Docker's ip6tables leftovers (Docker 27 and later)", () => {
  it('are found and removed like IPv4 ones: chains, jumps into them and the /128 raw drops; the admin\'s and dockgate\'s rules stay', () => {
    const before = parseSave(save(DOCKER28_V6));
    const f = renderDockerFlush(before);
    expect(f.refused).toBe(false);
    expect(f.chains.map((c) => `${c.table}/${c.chain}`).sort()).toEqual([
      'filter/DOCKER', 'filter/DOCKER-BRIDGE', 'filter/DOCKER-CT', 'filter/DOCKER-FORWARD',
      'filter/DOCKER-ISOLATION-STAGE-1', 'filter/DOCKER-ISOLATION-STAGE-2', 'filter/DOCKER-USER', 'nat/DOCKER',
    ]);
    expect(f.rules).toEqual([{ table: 'raw', chain: 'PREROUTING', line: '-d fd00:db8:1::2/128 ! -i br-0123456789ab -j DROP' }]);
    const after = applyRestore(before, f.text);
    expect(after.get('filter')!.chains.get('FORWARD')).toEqual(['-m comment --comment dockgate -j DOCKGATE-FORWARD']);
    expect(after.get('nat')!.chains.get('POSTROUTING')).toEqual(['-s fd00:db8:1::/64 ! -o br-0123456789ab -j MASQUERADE']);
    expect(after.get('raw')!.chains.get('PREROUTING')).toEqual(['-d fd00:db8:9::1/128 ! -i eth0 -j DROP']);
    expect(renderDockerFlush(after).text).toBe('');
  });

  it('are named as ip6tables tables to the admin', () => {
    expect(familyTable(6, 'nat')).toBe('ip6tables nat');
    expect(familyTable(4, 'nat')).toBe('nat');
  });
});
