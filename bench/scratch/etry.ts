import { benchEvents } from '../events.js';
import { cleanupAll, installSignalHandlers } from '../lib/cleanup.js';
import { cleanupLeftovers } from '../../test/support/netns.js';
installSignalHandlers();
await cleanupLeftovers();
try {
  const r = await benchEvents({ sequential: 5, burst: 10, burstConcurrency: 10, resourceContainers: 20, idleSeconds: 3, daemonLogFile: '/tmp/dgbench-daemon.jsonl', log: (m) => console.log(m) });
  console.log(JSON.stringify({ ...r, sequential: { k: r.sequential.kernel.samples, a: r.sequential.applied.samples, d: r.sequential.dockerRun.samples }, burst: { ...r.burst, perContainer: r.burst.perContainer.samples } }, null, 1));
} finally { await cleanupAll(); }
