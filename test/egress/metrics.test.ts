import { describe, expect, it } from 'vitest';
import { DockgateMetrics } from '../../src/metrics/metrics.js';

describe('egress metrics', () => {
  it('resolutions, failures and set sizes, read at each scrape', async () => {
    const m = new DockgateMetrics({ processMetrics: false });
    const before = await m.registry.metrics();
    expect(before).toContain('dockgate_egress_resolutions_total 0');
    let snap = { resolutions: 3, failures: 1, sets: [{ set: 'dockgate-e4-0123456789ab', name: 'api.example.com', family: 4 as const, size: 2 }] };
    m.egress(() => snap);
    const text = await m.registry.metrics();
    expect(text).toContain('dockgate_egress_resolutions_total 3');
    expect(text).toContain('dockgate_egress_resolution_failures_total 1');
    expect(text).toContain('dockgate_egress_set_members{set="dockgate-e4-0123456789ab",name="api.example.com",family="4"} 2');
    snap = { resolutions: 4, failures: 1, sets: [] };
    expect(await m.registry.metrics()).not.toContain('dockgate_egress_set_members{');
  });
});
