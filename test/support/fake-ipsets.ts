// dockgate's ipsets in memory (the daemon's IpsetWriter): what each set holds, and every call in
// order, for tests and the bench that run without a kernel.
import type { IpsetWriter } from '../../src/daemon/egress-sync.js';
import type { SetState } from '../../src/dataplane/ipset.js';
import type { EgressSet } from '../../src/model/types.js';

export class FakeIpsets implements IpsetWriter {
  readonly sets = new Map<string, SetState>();
  readonly calls: string[] = [];
  async read(): Promise<Map<string, SetState>> {
    this.calls.push('read');
    return new Map([...this.sets].map(([k, v]) => [k, { family: v.family, members: new Map(v.members) }]));
  }
  async ensure(sets: readonly EgressSet[]): Promise<void> {
    this.calls.push(`ensure ${sets.map((s) => s.set).join(',')}`);
    for (const s of sets) if (!this.sets.has(s.set)) this.sets.set(s.set, { family: s.family, members: new Map() });
  }
  async add(set: string, members: ReadonlyArray<{ address: string; keepS: number }>): Promise<void> {
    this.calls.push(`add ${set} ${members.map((m) => `${m.address}/${m.keepS}`).join(',')}`);
    for (const m of members) this.sets.get(set)?.members.set(m.address, m.keepS);
  }
  async addMany(members: ReadonlyArray<{ set: string; address: string; keepS: number }>): Promise<void> {
    this.calls.push(`add ${members.map((m) => `${m.set} ${m.address}/${m.keepS}`).join(',')}`);
    for (const m of members) this.sets.get(m.set)?.members.set(m.address, m.keepS);
  }
  async removeOthers(keep: ReadonlySet<string>, have?: ReadonlyMap<string, SetState>): Promise<string[]> {
    const names = have ? [...have.keys()] : [...(await this.read()).keys()];
    const gone = names.filter((k) => !keep.has(k) && this.sets.has(k));
    for (const g of gone) this.sets.delete(g);
    this.calls.push(`remove ${gone.join(',')}`);
    return gone;
  }
}
