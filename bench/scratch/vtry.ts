import { benchVersus } from '../versus.js';
import { cleanupAll, installSignalHandlers } from '../lib/cleanup.js';
import { cleanupLeftovers } from '../../test/support/netns.js';
installSignalHandlers();
await cleanupLeftovers();
try {
  const r = await benchVersus({ containers: Number(process.argv[2] ?? 3), burstConcurrency: 10, modes: (process.argv[3] ?? 'docker,dockgate').split(',') as never, log: (m) => console.log(m) });
  console.log(JSON.stringify(r, null, 1));
} finally { await cleanupAll(); }
