// A test's `dockgate run` keeps its drop log in the test's own temp dir. With the default
// drops.socket (/run/dockgate/drops.sock) every daemon a test killed on purpose left a
// /run/dockgate/dockgate-ulogd-* directory behind (ulogd's directory goes beside the socket).
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { isMap, parseDocument } from 'yaml';

/** Only files a test wrote are rewritten: never a config kept in the repository. */
const inTempDir = (file: string): boolean => {
  const rel = relative(tmpdir(), file);
  return isAbsolute(file) && rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
};

/**
 * For `run --config FILE ...`: when FILE lies in a temp dir and names no drops.socket, writes one
 * beside FILE into it (in place, so that `dockgate drops --config FILE` finds the same socket).
 * Returns the socket path dockgate will use, or undefined when it left the arguments' config alone.
 */
export function ownDropsSocket(args: readonly string[]): string | undefined {
  if (args[0] !== 'run') return undefined;
  const at = args.indexOf('--config');
  const file = at >= 0 ? args[at + 1] : undefined;
  if (file === undefined || !inTempDir(file)) return undefined;
  const doc = parseDocument(readFileSync(file, 'utf8'));
  const named = doc.getIn(['drops', 'socket']);
  if (typeof named === 'string') return named;
  const socket = join(dirname(file), 'drops.sock');
  // `drops:` with nothing under it is a null, not a map to add to.
  if (isMap(doc.get('drops'))) doc.setIn(['drops', 'socket'], socket);
  else doc.set('drops', doc.createNode({ socket }));
  writeFileSync(file, String(doc));
  return socket;
}
