// Turns a container's parsed policy plus what Docker reports into concrete openings:
// which host address/port leads to which container address/port, from which sources.
import { byText } from './order.js';
import type {
  ContainerFacts,
  ContainerPolicy,
  NetworkAttachment,
  NetworkFacts,
  Opening,
  PortBinding,
  Protocol,
} from '../model/types.js';

/**
 * Each opening becomes one rule per allowed source. Two labels of under 1 KiB each can ask for a
 * hundred thousand rules (1024 ports × 100 sources), which would stall every write for seconds:
 * above this, the container gets nothing and a warning instead.
 */
export const MAX_RULES_PER_CONTAINER = 4096;

export interface Resolved {
  openings: Opening[];
  warnings: string[];
}

/** Attachments on managed bridges that have an IPv4 address, in a stable order. */
export function bridgeAttachments(
  facts: ContainerFacts,
  networks: ReadonlyMap<string, NetworkFacts>,
): Array<{ attachment: NetworkAttachment; network: NetworkFacts }> {
  return facts.networks
    .filter((a) => a.ipv4 !== '' && networks.has(a.networkId))
    .map((a) => ({ attachment: a, network: networks.get(a.networkId)! }))
    .sort((x, y) => byText(x.network.name, y.network.name));
}

const isAnyV4 = (ip: string): boolean => ip === '' || ip === '0.0.0.0';
const isV6 = (ip: string): boolean => ip.includes(':');

function describe(port: number, proto: Protocol): string {
  return `${port}/${proto}`;
}

export function resolveOpenings(
  facts: ContainerFacts,
  policy: ContainerPolicy,
  networks: ReadonlyMap<string, NetworkFacts>,
  labelPrefix = 'dockgate',
): Resolved {
  const warnings: string[] = [];
  const published = facts.ports.filter((b) => b.hostPort > 0);

  if (!policy.declared) {
    const list = [...new Set(published.map((b) => describe(b.containerPort, b.protocol)))];
    if (list.length > 0) {
      warnings.push(`publishes ${list.join(', ')} but has no ${labelPrefix}.ports label: nothing opened`);
    }
    return { openings: [], warnings };
  }

  const sources = policy.from.filter((c) => c.family === 4).map((c) => c.text);
  if (sources.length === 0) {
    warnings.push(`no IPv4 source in ${labelPrefix}.from (IPv6 is not handled yet): nothing opened`);
    return { openings: [], warnings };
  }
  // 0.0.0.0/0 means everyone: render no -s at all rather than a match that costs per packet.
  const sourceList = sources.includes('0.0.0.0/0') ? [''] : sources;

  const primary = bridgeAttachments(facts, networks)[0];
  const containerIp = primary?.attachment.ipv4 ?? '';
  if (policy.mode === 'dnat' && containerIp === '' && policy.ports.length > 0) {
    warnings.push('dnat mode needs an IPv4 address on a Docker bridge network: nothing opened');
    return { openings: [], warnings };
  }

  const pairs: Array<{ binding: PortBinding }> = [];
  for (const spec of policy.ports) {
    if (spec.host) {
      // Equal-length ranges map port by port; a host range onto one container port maps every
      // host port to it (the label grammar allows nothing else).
      const single = spec.start === spec.end;
      for (let i = 0; i <= spec.host.end - spec.host.start; i++) {
        const containerPort = single ? spec.start : spec.start + i;
        pairs.push({ binding: { containerPort, protocol: spec.protocol, hostIp: spec.host.ip, hostPort: spec.host.start + i } });
      }
      continue;
    }
    for (let i = 0; i <= spec.end - spec.start; i++) {
      const containerPort = spec.start + i;
      const bound = published.filter((b) => b.containerPort === containerPort && b.protocol === spec.protocol);
      if (bound.length === 0) {
        warnings.push(
          `${describe(containerPort, spec.protocol)} is in ${labelPrefix}.ports but not published with -p` +
            ' (use HOSTPORT:PORT in the label to publish it through dockgate)',
        );
      }
      for (const binding of bound) pairs.push({ binding });
    }
  }

  const openings: Opening[] = [];
  const seen = new Set<string>();
  let skippedV6 = false;
  for (const { binding } of pairs) {
    // Docker reports every -p twice on dual-stack hosts ('0.0.0.0' and '::'); IPv6 has no rules yet.
    if (isV6(binding.hostIp)) {
      skippedV6 ||= binding.hostIp !== '::';
      continue;
    }
    const hostIp = isAnyV4(binding.hostIp) ? '' : binding.hostIp;
    const key = `${binding.protocol}|${hostIp}|${binding.hostPort}|${binding.containerPort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    openings.push({
      protocol: binding.protocol,
      hostIp,
      hostPort: binding.hostPort,
      containerIp,
      containerPort: binding.containerPort,
      mode: policy.mode,
      sources: sourceList,
    });
  }
  if (skippedV6) warnings.push('IPv6 host addresses are not handled yet: those bindings were skipped');
  const rules = openings.length * sourceList.length;
  if (rules > MAX_RULES_PER_CONTAINER) {
    warnings.push(
      `${openings.length} ports × ${sourceList.length} sources would need ${rules} rules; at most ${MAX_RULES_PER_CONTAINER} per container: nothing opened`,
    );
    return { openings: [], warnings };
  }
  return { openings, warnings };
}
