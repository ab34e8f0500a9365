// systemd readiness (Type=notify). Node cannot send on a unix datagram socket by itself, so the
// READY=1 message goes through `systemd-notify`, a child process; the unit therefore needs
// NotifyAccess=all. --pid names this process as the main pid, and systemd-notify (systemd 246+)
// waits until the manager has processed the message, so its early exit loses nothing.
//
// It runs in a queue of its own, not the daemon's iptables queue: readiness must not wait behind
// restores, saves or drift checks queued meanwhile, and it touches no firewall state.
import { CommandQueue, howEnded, succeeded } from './command-queue.js';

/** The part of a pino logger this module uses. */
export interface NotifyLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Tells systemd the daemon is ready. Does nothing outside systemd (no NOTIFY_SOCKET). Never
 * throws: a failed notification is logged, and systemd's TimeoutStartSec decides what happens.
 * `queue` is for tests; by default a fresh queue of its own, never the iptables queue.
 */
export async function notifyReady(log: NotifyLog, queue: CommandQueue = new CommandQueue()): Promise<boolean> {
  // The child inherits this environment, NOTIFY_SOCKET included.
  if (!process.env.NOTIFY_SOCKET) return false;
  const r = await queue.run('systemd-notify', ['--ready', `--pid=${process.pid}`], { timeoutMs: 15_000 });
  if (!succeeded(r)) {
    const why = r.kind === 'not-found' ? 'systemd-notify not found' : r.kind === 'exited' ? `exit ${r.code}: ${r.stderr.trim()}` : howEnded(r);
    log.warn({ event: 'notify-failed', err: why }, `could not report readiness to systemd: ${why}`);
    return false;
  }
  log.info({ event: 'ready-notified' }, 'readiness reported to systemd');
  return true;
}
