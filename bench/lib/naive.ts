// The baseline: the same rules written the way hand-made scripts (and Docker itself) do it, one
// `iptables` process per rule. Turns iptables-restore text into a shell script of iptables
// commands; the script runs inside the benchmark's namespace with `sh -e`, so the baseline pays
// for nothing but the iptables processes themselves (no Node.js spawn per rule).

/** Splits an iptables-save rule line into arguments (double quotes with backslash escapes). */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuote = false;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (inQuote) {
      if (ch === '\\' && i + 1 < line.length) {
        cur += line[++i];
      } else if (ch === '"') {
        inQuote = false;
      } else {
        cur += ch;
      }
    } else if (ch === '"') {
      inQuote = true;
      has = true;
    } else if (ch === ' ') {
      if (has || cur !== '') out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
    }
  }
  if (has || cur !== '') out.push(cur);
  return out;
}

const shq = (s: string): string => (/^[A-Za-z0-9_./:,=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * One `iptables` command per line of the restore text. A chain declaration becomes `-N` for a
 * chain that does not exist yet and `-F` for one that does (or that is deleted later in the same
 * text, which is how a diff removes a chain).
 */
export function restoreToCommands(restoreText: string, existing: ReadonlySet<string>): string[][] {
  const cmds: string[][] = [];
  let table = 'filter';
  const lines = restoreText.split('\n');
  const destroyed = new Set(lines.filter((l) => l.startsWith('-X ')).map((l) => l.slice(3).trim()));
  for (const line of lines) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
    } else if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      const exists = existing.has(`${table}/${name}`) || destroyed.has(name);
      cmds.push(['-t', table, exists ? '-F' : '-N', name]);
    } else if (line.startsWith('-')) {
      cmds.push(['-t', table, ...splitArgs(line)]);
    }
  }
  return cmds;
}

export function shellScript(cmds: readonly string[][], iptables = 'iptables'): string {
  return ['set -e', ...cmds.map((c) => [iptables, '-w', '10', ...c].map(shq).join(' ')), ''].join('\n');
}
