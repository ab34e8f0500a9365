// The test daemons' drop log goes into the test's own temp dir, never /run/dockgate.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ownDropsSocket } from './drops-socket.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const configWith = (text: string): string => {
  dir = mkdtempSync(join(tmpdir(), 'dgt-cfg-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
  return file;
};

describe('ownDropsSocket', () => {
  it.each([
    ['no drops section', 'log_level: debug\nsync:\n  debounce_ms: 10\n'],
    ['a drops section without a socket', 'drops:\n  rate_per_s: 50\n'],
    ['an empty drops section', 'log_level: debug\ndrops:\n'],
    ['an empty file', ''],
  ])('%s: the socket goes beside the config, the rest stays', (_, text) => {
    const file = configWith(text);
    const socket = ownDropsSocket(['run', '--config', file]);
    expect(socket).toBe(join(dir!, 'drops.sock'));
    const config = loadConfig(file);
    expect(config.drops.socket).toBe(socket);
    if (text.includes('rate_per_s')) expect(config.drops.ratePerSecond).toBe(50);
    if (text.includes('debounce_ms')) expect(config.sync.debounceMs).toBe(10);
  });

  it('leaves a socket the test named, other commands and files outside a temp dir alone', () => {
    const file = configWith('drops:\n  socket: /tmp/x/drops.sock\n');
    expect(ownDropsSocket(['run', '--config', file])).toBe('/tmp/x/drops.sock');
    expect(readFileSync(file, 'utf8')).toBe('drops:\n  socket: /tmp/x/drops.sock\n');
    const plain = configWith('log_level: debug\n');
    expect(ownDropsSocket(['status', '--config', plain])).toBeUndefined();
    expect(ownDropsSocket(['run'])).toBeUndefined();
    expect(ownDropsSocket(['run', '--config', 'config/config.yaml'])).toBeUndefined();
    expect(ownDropsSocket(['run', '--config', '/etc/dockgate/config.yaml'])).toBeUndefined();
    expect(readFileSync(plain, 'utf8')).toBe('log_level: debug\n');
  });
});
