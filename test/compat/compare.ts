// Owns the comparison of two normalised transcripts, allowing exactly the declared known differences.
import type { KnownDifference } from './known-differences.js';
import type { TranscriptEntry } from './session-types.js';

export interface Mismatch {
  step: string;
  field: 'step' | 'stdout' | 'stderr' | 'exitCode';
  etcd: string | number | null;
  etcdTs: string | number | null;
  /** Set when a known difference was declared for this field but the output was not what it declares. */
  knownDifference?: string;
}

/**
 * Every entry and field must be equal, except a field covered by a known difference: there etcd must
 * print exactly `etcd` and etcd-ts exactly `etcdTs` (so a changed difference is reported too).
 */
export function compareTranscripts(
  session: string,
  etcd: readonly TranscriptEntry[],
  etcdTs: readonly TranscriptEntry[],
  differences: readonly KnownDifference[],
): Mismatch[] {
  const mismatches: Mismatch[] = [];
  const length = Math.max(etcd.length, etcdTs.length);
  for (let index = 0; index < length; index++) {
    const left = etcd[index];
    const right = etcdTs[index];
    if (left === undefined || right === undefined || left.step !== right.step) {
      mismatches.push({ step: left?.step ?? right?.step ?? `#${index}`, field: 'step', etcd: left?.step ?? null, etcdTs: right?.step ?? null });
      continue;
    }
    for (const field of ['stdout', 'stderr', 'exitCode'] as const) {
      const declared = differences.find((d) => d.session === session && d.step === left.step && d.field === field);
      if (declared !== undefined) {
        if (left[field] !== declared.etcd || right[field] !== declared.etcdTs) {
          mismatches.push({ step: left.step, field, etcd: left[field], etcdTs: right[field], knownDifference: declared.reason });
        }
      } else if (left[field] !== right[field]) {
        mismatches.push({ step: left.step, field, etcd: left[field], etcdTs: right[field] });
      }
    }
  }
  return mismatches;
}

export function formatMismatches(session: string, mismatches: readonly Mismatch[]): string {
  return mismatches.map((m) => [
    `[${session}] ${m.step} — ${m.field} differs${m.knownDifference === undefined ? '' : ` (declared known difference: ${m.knownDifference})`}`,
    `  etcd   : ${JSON.stringify(m.etcd)}`,
    `  etcd-ts: ${JSON.stringify(m.etcdTs)}`,
  ].join('\n')).join('\n');
}
