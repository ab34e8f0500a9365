// `dockgate status --json`: how openings are shown. Everyone is "any", never the planner's { kind: 'any' } nor [""].
import { describe, expect, it } from 'vitest';
import { containersJson } from '../../src/cli/status.js';
import { ANY_HOST, ANY_SOURCE, hostAddress, sourceList } from '../../src/model/format.js';
import type { ContainerPlan, Opening, Sources } from '../../src/model/types.js';

const opening = (sources: Sources, hostIp = ANY_HOST): Opening => ({
  family: 4,
  protocol: 'tcp',
  hostIp,
  hostPort: 8080,
  containerIp: '172.17.0.2',
  containerPort: 80,
  mode: 'proxy',
  sources,
});

const container = (...openings: Opening[]): ContainerPlan => ({ id: 'ab'.repeat(32), name: 'web', mode: 'proxy', egress: true, openings, errors: [], warnings: [], imageLabels: [] });

describe('status --json', () => {
  it('sources open to everyone are "any"', () => {
    const [c] = containersJson([container(opening(ANY_SOURCE))]);
    expect(c!.openings[0]!.sources).toBe('any');
    expect(JSON.stringify(c)).toContain('"sources":"any"');
    expect(JSON.stringify(c)).not.toContain('[""]');
    expect(JSON.stringify(c)).not.toContain('"kind"');
  });

  it('every local address is "", one address is itself', () => {
    expect(containersJson([container(opening(ANY_SOURCE))])[0]!.openings[0]!.hostIp).toBe('');
    expect(containersJson([container(opening(ANY_SOURCE, hostAddress('10.0.0.5')))])[0]!.openings[0]!.hostIp).toBe('10.0.0.5');
  });

  it('listed sources stay a list; everything else is as planned', () => {
    const o = opening(sourceList(['192.0.2.0/24', '198.51.100.7/32']));
    const [c] = containersJson([container(o)]);
    expect(c!.openings[0]).toEqual({ ...o, hostIp: '', sources: ['192.0.2.0/24', '198.51.100.7/32'] });
    expect(c).toMatchObject({ id: 'ab'.repeat(32), name: 'web', mode: 'proxy', egress: true, errors: [], warnings: [] });
  });

  it('a proxy opening without a container address still shows containerIp "", every field in the same order', () => {
    const hostNetwork: Opening = { family: 6, protocol: 'udp', hostIp: ANY_HOST, hostPort: 53, containerPort: 53, mode: 'proxy', sources: ANY_SOURCE };
    const [c] = containersJson([container(hostNetwork)]);
    expect(JSON.stringify(c!.openings[0])).toBe('{"family":6,"protocol":"udp","hostIp":"","hostPort":53,"containerIp":"","containerPort":53,"mode":"proxy","sources":"any"}');
    const [d] = containersJson([container({ ...opening(ANY_SOURCE), mode: 'dnat', containerIp: '172.17.0.9' })]);
    expect(JSON.stringify(d!.openings[0])).toBe('{"family":4,"protocol":"tcp","hostIp":"","hostPort":8080,"containerIp":"172.17.0.9","containerPort":80,"mode":"dnat","sources":"any"}');
  });
});
