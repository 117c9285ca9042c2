// Owns Go's duration syntax ("300ms", "1h30m", "-1.5h", "0"), which etcd uses for every duration
// flag, so values written for etcd mean the same thing here.

const unitToMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const segmentPattern = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/** Parses a Go duration into milliseconds (fractional below 1 ms). Throws a message in Go's words. */
export function parseGoDurationMs(text: string): number {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  // Go accepts a bare "0" (and only zero) without a unit.
  if (rest === '0') return 0;
  if (rest === '') throw new Error(`time: invalid duration "${text}"`);
  let totalMs = 0;
  while (rest !== '') {
    const match = segmentPattern.exec(rest);
    if (match === null) {
      if (/^(\d+(?:\.\d*)?|\.\d+)$/.test(rest)) throw new Error(`time: missing unit in duration "${text}"`);
      throw new Error(`time: invalid duration "${text}"`);
    }
    totalMs += Number(match[1]) * (unitToMs[match[2]!] as number);
    rest = rest.slice(match[0].length);
  }
  return sign * totalMs;
}

/** Formats milliseconds the way Go prints a time.Duration ("1h30m0s", "100ms", "0s"). */
export function formatGoDuration(durationMs: number): string {
  if (durationMs === 0) return '0s';
  const sign = durationMs < 0 ? '-' : '';
  let remainingMs = Math.abs(durationMs);
  if (remainingMs < 1000) return `${sign}${remainingMs}ms`;
  const hours = Math.floor(remainingMs / 3_600_000);
  remainingMs -= hours * 3_600_000;
  const minutes = Math.floor(remainingMs / 60_000);
  remainingMs -= minutes * 60_000;
  const seconds = remainingMs / 1000;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}
