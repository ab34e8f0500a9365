// The default config path is optional wherever it is named, so that the unit (which names it) and
// a bare `dockgate run` behave alike: a deleted /etc/dockgate/config.yaml means the built-in
// defaults, as config.yaml and README say, and never an exit 2 that RestartPreventExitStatus=2
// makes final. Any other path given with --config must exist.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG_PATH, defaultConfig, loadConfig, readConfigFile } from '../../src/config/load.js';

const UNIT = fileURLToPath(new URL('../../systemd/dockgate.service', import.meta.url));

let tmp: string;
let defaultPath: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'dockgate-default-path-'));
  defaultPath = join(tmp, 'etc', 'config.yaml');
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('a missing config file', () => {
  it('at the default path, named explicitly as the unit does: the built-in defaults, said so', () => {
    const r = readConfigFile(defaultPath, defaultPath, {});
    expect(r).toEqual({ config: defaultConfig(), file: defaultPath, builtIn: true });
    expect(loadConfig(defaultPath, defaultPath, {})).toEqual(defaultConfig());
  });

  it('at the default path spelt another way: the same path, the same defaults', () => {
    expect(readConfigFile(join(tmp, 'etc', '.', '..', 'etc', 'config.yaml'), defaultPath, {}).builtIn).toBe(true);
  });

  it('without --config: the built-in defaults, said so', () => {
    expect(readConfigFile(undefined, defaultPath, {})).toEqual({ config: defaultConfig(), file: defaultPath, builtIn: true });
  });

  it('at any other path given with --config: still an error naming the file (a typo must not run the defaults)', () => {
    const other = join(tmp, 'typo.yaml');
    expect(() => readConfigFile(other, defaultPath, {})).toThrow(ConfigError);
    expect(() => readConfigFile(other, defaultPath, {})).toThrow(`${other}: no such file`);
  });

  it('a default file that exists is read as any other, and says it is no default', async () => {
    const p = join(tmp, 'present.yaml');
    await writeFile(p, 'log_level: debug\n');
    const r = readConfigFile(p, p, {});
    expect(r.builtIn).toBe(false);
    expect(r.config.logLevel).toBe('debug');
    // ...and a bad one at the default path is still exit 2 material, not silently the defaults
    await writeFile(p, 'no_such_key: 1\n');
    expect(() => readConfigFile(p, p, {})).toThrow(/no_such_key/);
  });
});

describe('the unit', () => {
  it('names the default path in ExecStart and in the check-config ExecReload, so a deleted file there is the defaults', async () => {
    const unit = await readFile(UNIT, 'utf8');
    const configs = unit
      .split('\n')
      .filter((l) => /^Exec(Start|Reload)=\S*dockgate (run|check-config)\b/.test(l))
      .map((l) => /--config (\S+)/.exec(l)?.[1]);
    expect(configs).toEqual([DEFAULT_CONFIG_PATH, DEFAULT_CONFIG_PATH]);
  });
});
