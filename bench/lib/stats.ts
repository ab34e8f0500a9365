// Summaries of repeated measurements. Percentiles are nearest-rank: with n samples, p95 is the
// ceil(0.95 n)-th smallest, so with 20 samples it is the 19th and with 50 the 48th (p99 of 50 is
// the 50th, i.e. the maximum). Every summary keeps its raw samples for the JSON report.

export interface Summary {
  n: number;
  min: number;
  median: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  /** raw values, in the order they were measured, rounded to 0.01 */
  samples: number[];
}

const round2 = (v: number): number => Math.round(v * 100) / 100;

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n === 0 ? Number.NaN : n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  return {
    n,
    min: round2(sorted[0] ?? Number.NaN),
    median: round2(median),
    p95: round2(percentile(sorted, 95)),
    p99: round2(percentile(sorted, 99)),
    max: round2(sorted[n - 1] ?? Number.NaN),
    mean: round2(n === 0 ? Number.NaN : sorted.reduce((a, b) => a + b, 0) / n),
    samples: values.map(round2),
  };
}

/** Wall-clock time in ms with sub-ms resolution (comparable with Docker's timeNano / 1e6). */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** ms as a short human string: 0.84 ms, 12.3 ms, 1.42 s, 2 min 5 s. */
export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || Number.isNaN(ms)) return 'n/a';
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}
