// The host's interfaces and addresses, read with `ip -j addr` through the command queue (the
// only place processes run). What they mean is decided in src/net/addresses.ts.
import { type HostInterface, parseIpAddr } from '../net/addresses.js';
import { type CommandQueue, failureMessage, succeeded } from './command-queue.js';

export async function readAddresses(queue: CommandQueue, command = 'ip'): Promise<HostInterface[]> {
  const r = await queue.run(command, ['-j', 'addr', 'show'], { timeoutMs: 10_000 });
  if (!succeeded(r)) throw new Error(failureMessage(`${command} -j addr show`, r));
  const parsed = parseIpAddr(r.stdout, `${command} -j addr show`);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}
