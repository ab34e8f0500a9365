// `dockgate flush`: every dockgate chain and jump removed, nothing else touched.
import { dataplaneFor, readConfig } from './context.js';

export async function flush(options: { config?: string }): Promise<void> {
  const config = readConfig(options.config);
  const tables = await dataplaneFor(config).flush();
  process.stdout.write(tables.length === 0 ? 'nothing to flush\n' : `removed dockgate chains and jumps from: ${tables.join(', ')}\n`);
}
