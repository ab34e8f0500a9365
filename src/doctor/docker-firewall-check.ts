// Docker's own firewall, as Docker itself reports it (API 1.49+, /info FirewallBackend) and as
// the kernel shows it. Docker reports a backend whether or not it writes rules ("iptables" with
// `"iptables": false` too), so the report alone proves nothing: what fails is Docker's own nft
// tables in the kernel (its nftables backend, Docker 29+), which would filter and NAT beside
// dockgate. Pure.
import type { NftRuleset } from '../hostfw/nft-ruleset.js';
import type { CheckResult } from './check-result.js';

/** The tables Docker's nftables backend writes (moby libnetwork internal/nftables). */
const DOCKER_NFT_TABLES = new Set(['docker-bridges']);

export interface DockerFirewallFacts {
  /** /info FirewallBackend.Driver: "iptables", "nftables", "+firewalld" appended; undefined before API 1.49 or unreachable. */
  driver: string | undefined;
  /** The nft ruleset, when it could be read. */
  ruleset: NftRuleset | undefined;
}

export function checkDockerFirewall(f: DockerFirewallFacts): CheckResult {
  const name = 'docker-firewall';
  const tables = (f.ruleset?.tables ?? []).filter((t) => (t.family === 'ip' || t.family === 'ip6') && DOCKER_NFT_TABLES.has(t.name)).map((t) => `${t.family} ${t.name}`);
  const backend = f.driver === undefined ? 'not reported (Docker before API 1.49)' : `backend ${f.driver}`;
  if (tables.length > 0) {
    return {
      status: 'fail',
      name,
      detail: `Docker's own nftables firewall is active (${tables.join(', ')}; ${backend}): it filters and NATs beside dockgate. Set "iptables": false and "ip6tables": false in daemon.json, restart Docker, then delete those tables (nft delete table ip docker-bridges) or reboot`,
    };
  }
  return { status: 'ok', name, detail: `no firewall tables of Docker's own in the kernel (${backend})` };
}
