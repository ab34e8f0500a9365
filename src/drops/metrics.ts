// The drop log's metrics, read from the recorder at each scrape. Per-container counts are a
// top-N (TOP_CONTAINERS by packets, among the containers the recorder keeps), so the label set
// never exceeds TOP_CONTAINERS series whatever the number of containers or attackers.
import { Counter, Gauge, type Registry } from 'prom-client';
import { DROP_REASONS } from '../plan/drop-log.js';
import type { DropRecorder } from './recorder.js';

export const TOP_CONTAINERS = 10;

export function registerDropMetrics(registry: Registry, recorder: DropRecorder): void {
  new Counter({
    name: 'dockgate_dropped_total',
    help: 'Packets dockgate turned away that reached the drop log, by reason (the kernel logs at most drops.rate_per_s a second per reason with its burst, so this is a lower bound under a flood)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of DROP_REASONS) this.inc({ reason: r }, recorder.packets.get(r) ?? 0);
    },
  });
  new Counter({
    name: 'dockgate_dropped_unlisted_total',
    help: 'Of those, packets neither folded into an entry nor listed because of the daemon\'s own rate limit, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of DROP_REASONS) this.inc({ reason: r }, recorder.limited.get(r) ?? 0);
    },
  });
  new Gauge({
    name: 'dockgate_dropped_container_packets',
    help: `Packets turned away per container (name/shortid), for the ${TOP_CONTAINERS} containers with the most among those recently dropped`,
    labelNames: ['container'],
    registers: [registry],
    collect() {
      this.reset();
      const top = recorder
        .containers()
        .sort((a, b) => b.count - a.count)
        .slice(0, TOP_CONTAINERS);
      for (const c of top) this.set({ container: `${c.container.name}/${c.container.id}` }, c.count);
    },
  });
}
