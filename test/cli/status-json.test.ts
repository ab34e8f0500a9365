// `dockgate status --json`: how openings are shown. Everyone is "any", never the planner's [""].
import { describe, expect, it } from 'vitest';
import { containersJson } from '../../src/cli/status.js';
import type { ContainerPlan, Opening } from '../../src/model/types.js';

const opening = (sources: string[]): Opening =>
  ({ protocol: 'tcp', hostIp: '', hostPort: 8080, containerIp: '172.17.0.2', containerPort: 80, mode: 'proxy', sources }) as Opening;

const container = (...openings: Opening[]): ContainerPlan => ({ id: 'ab'.repeat(32), name: 'web', mode: 'proxy', egress: true, openings, errors: [], warnings: [] });

describe('status --json', () => {
  it('sources open to everyone are "any"', () => {
    const [c] = containersJson([container(opening(['']))]);
    expect(c!.openings[0]!.sources).toBe('any');
    expect(JSON.stringify(c)).not.toContain('[""]');
  });

  it('listed sources stay a list; everything else is as planned', () => {
    const o = opening(['192.0.2.0/24', '198.51.100.7']);
    const [c] = containersJson([container(o)]);
    expect(c!.openings[0]).toEqual(o);
    expect(c).toMatchObject({ id: 'ab'.repeat(32), name: 'web', mode: 'proxy', egress: true, errors: [], warnings: [] });
  });
});
