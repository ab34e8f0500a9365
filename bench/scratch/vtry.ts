import { benchVersus } from '../versus.js';
import { cleanupAll, installSignalHandlers } from '../lib/cleanup.js';
import { cleanupLeftovers } from '../../test/support/netns.js';
installSignalHandlers();
await cleanupLeftovers();
try {
  const r = await benchVersus({ containers: Number(process.argv[2] ?? 3), burstConcurrency: 10, modes: (process.argv[3] ?? 'docker,dockgate').split(',') as never, log: (m) => console.log(m) });
  for (const x of r) console.log(x.mode, "seq", x.sequential.samples, "run", x.dockerRun.samples, "seqwall", x.sequentialWallMs, "burst", x.burstWallMs, x.burstPerContainer.samples, "fail", x.failures);
} finally { await cleanupAll(); }
