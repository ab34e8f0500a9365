// The plan the host-firewall tests judge: one proxy opening, one dnat opening, egress, on the
// default bridge. Shared by the fixture capture (which writes these rules into the namespace, so
// the captured ruleset holds dockgate's own iptables tables too) and the unit tests.
import type { RuleSet } from '../../src/model/types.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import { BRIDGE, DEFAULTS, container } from '../plan/fixtures.js';

export const HOST_IP = '10.0.0.5';

export function fixturePlan(): RuleSet {
  return buildRuleSet({
    labelPrefix: 'dockgate',
    defaults: { ...DEFAULTS, from: [{ family: 4, text: '0.0.0.0/0' }] },
    networks: [BRIDGE],
    ipv6: false,
    containers: [
      container('web', { id: 'a'.repeat(64), ip: '172.17.0.2', publish: [`${HOST_IP}:8000:80/tcp`], labels: { 'dockgate.ports': '80' } }),
      container('api', { id: 'b'.repeat(64), ip: '172.17.0.3', labels: { 'dockgate.ports': `${HOST_IP}:8080:80`, 'dockgate.mode': 'dnat' } }),
    ],
  });
}
