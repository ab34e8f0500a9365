import { describe, expect, it } from 'vitest';
import { dockerChainsIn, renderDockerFlush, ruleTarget } from '../../src/host/docker-chains.js';
import { parseSave } from '../../src/plan/kernel-state.js';

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

  it('deletes the jumps into them, flushes them all, then deletes them, per table', () => {
    const f = renderDockerFlush(parseSave(SAVE));
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
  });

  it('renders nothing when there is nothing of Docker\'s', () => {
    expect(renderDockerFlush(parseSave('*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n'))).toEqual({ text: '', chains: [], jumps: [] });
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
