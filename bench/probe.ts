// The "outside" client of part 3, run by the benchmark inside the outside namespace:
//   nsenter --net=<outside ns> node --import tsx bench/probe.ts
// Reads one JSON request per stdin line, {"id","host","port","everyMs","deadlineMs"}, and starts a
// fresh HTTP GET to http://host:port/ every `everyMs` until one answers 200 (a real TCP handshake
// and a real HTTP answer from busybox httpd in the container), then prints {"id","ok":true,...}.
// A SYN that the firewall drops is simply lost; the next attempt, everyMs later, gets through once
// the rule is in place, so the resolution is everyMs without waiting for TCP's 1 s SYN retry.
// Request line: {"id","host","port","everyMs","deadlineMs","attemptTimeoutMs"}.
// Bounded: an attempt is aborted after attemptTimeoutMs without progress, at most 400 in flight, every request
// gives up at its deadline. Exits when stdin closes.
import http from 'node:http';
import { createInterface } from 'node:readline';

interface Request {
  id: string;
  host: string;
  port: number;
  everyMs?: number;
  deadlineMs?: number;
  /** an attempt with no progress for this long is aborted (default 300) */
  attemptTimeoutMs?: number;
}

const MAX_IN_FLIGHT = 400;
let inFlight = 0;

function attempt(host: string, port: number, timeout: number, onOk: () => void): () => void {
  inFlight++;
  let finished = false;
  const done = (): void => {
    if (finished) return;
    finished = true;
    inFlight--;
  };
  const req = http.get({ host, port, path: '/', agent: false, timeout }, (res) => {
    res.resume();
    if (res.statusCode === 200) onOk();
    res.on('end', done);
    res.on('error', done);
  });
  req.on('timeout', () => req.destroy());
  req.on('error', done);
  req.on('close', done);
  return () => {
    req.destroy();
    done();
  };
}

function probe(r: Request): void {
  const t0 = performance.now();
  const every = Math.max(2, r.everyMs ?? 10);
  const deadline = t0 + (r.deadlineMs ?? 30_000);
  const cancels = new Set<() => void>();
  let attempts = 0;
  let settled = false;
  const finish = (ok: boolean): void => {
    if (settled) return;
    settled = true;
    clearInterval(timer);
    for (const c of cancels) c();
    process.stdout.write(`${JSON.stringify({ id: r.id, ok, attempts, ms: performance.now() - t0 })}\n`);
  };
  const tick = (): void => {
    if (performance.now() > deadline) return finish(false);
    if (inFlight >= MAX_IN_FLIGHT) return;
    attempts++;
    let cancel: () => void = () => undefined;
    cancel = attempt(r.host, r.port, Math.min(5000, Math.max(50, r.attemptTimeoutMs ?? 300)), () => finish(true));
    cancels.add(cancel);
    setTimeout(() => cancels.delete(cancel), 6000).unref();
  };
  const timer = setInterval(tick, every);
  tick();
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line.trim() === '') return;
  try {
    probe(JSON.parse(line) as Request);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
  }
});
rl.on('close', () => setTimeout(() => process.exit(0), 100));
