// Reading Prometheus text exposition in tests: one sample's value by name and labels.

/** The value of one sample, e.g. sample(text, 'dockgate_restores_total', 'family="4"'); undefined if absent. */
export function sample(text: string, name: string, labels = ''): number | undefined {
  const want = labels === '' ? name : `${name}{${labels}}`;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    if (line.slice(0, i) === want) return Number(line.slice(i + 1));
  }
  return undefined;
}
