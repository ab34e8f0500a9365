import { benchDataplane } from '../dataplane.js';
import { cleanupAll, installSignalHandlers } from '../lib/cleanup.js';
installSignalHandlers();
const sizes = process.argv.slice(2).map(Number);
try {
  const r = await benchDataplane({ sizes, naiveMax: 1000, fullReps: () => 2, changeReps: 6, naiveChangeReps: 2, log: (m) => console.log(m) });
  console.log(JSON.stringify(r.map((x) => ({ n: x.n, full: x.fullSync.samples, fullProc: x.fullSyncRestoreProcess.samples, start: x.start.samples, startProc: x.startRestoreProcess.samples, stop: x.stop.samples, drift: x.driftCheck.samples, build: x.planBuildMs.median, diff: x.renderDiffMs.median, naive: x.naive && { ms: x.naive.fullMs, p: x.naive.processes, v: x.naive.verified, start: x.naive.start.samples, stop: x.naive.stop.samples }, v: x.verified }))));
} finally { await cleanupAll(); }
