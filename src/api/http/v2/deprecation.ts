// --v2-deprecation (etcd 3.5): how far the member has left the v2 API behind. etcd-ts keeps v2 data
// in the v3 keyspace (README.md), so the stages come down to etcd's two checks:
// - from write-only on, the v2 API cannot be served: --enable-v2 with such a stage is refused, with
//   etcd's "--enable-v2 and --v2-deprecation=<stage> are mutually exclusive";
// - a restarted member that holds v2 data (any node below the v2 root) logs etcd's warning at
//   not-yet, and from write-only on refuses to start with etcd's "detected disallowed custom content
//   in v2store for stage --v2-deprecation=<stage>", before Raft starts.
// etcd 3.5 and 3.6 make the same check for write-only-drop-data and gone (neither drops data at
// start), and so does etcd-ts.
import type { Logger } from 'pino';
import { emptyRangeRequest, type RangeRequest, type RangeResult } from '../../../mvcc/types.js';
import { v2ContentRange } from './paths.js';

export type V2DeprecationStage = 'not-yet' | 'write-only' | 'write-only-drop-data' | 'gone';

const stageLevel: Record<V2DeprecationStage, number> = { 'not-yet': 0, 'write-only': 1, 'write-only-drop-data': 2, gone: 3 };

/** etcd's V2DeprecationEnum.IsAtLeast. */
export function v2DeprecationIsAtLeast(stage: V2DeprecationStage, than: V2DeprecationStage): boolean {
  return stageLevel[stage] >= stageLevel[than];
}

/** Throws etcd's error when the v2 API is enabled at a stage that no longer allows it. */
export function checkV2ApiAllowed(enableV2: boolean, stage: V2DeprecationStage): void {
  if (enableV2 && v2DeprecationIsAtLeast(stage, 'write-only')) {
    throw new Error(`--enable-v2 and --v2-deprecation=${stage} are mutually exclusive`);
  }
}

/** Checks a restarted member's store for v2 data: a warning at not-yet, an error from write-only on. */
export async function checkV2Content(
  store: { range(request: RangeRequest): Promise<RangeResult> }, stage: V2DeprecationStage, logger: Logger,
): Promise<void> {
  const { key, rangeEnd } = v2ContentRange();
  const found = await store.range({ ...emptyRangeRequest(key, rangeEnd), countOnly: true });
  if (found.count === 0) return;
  if (v2DeprecationIsAtLeast(stage, 'write-only')) {
    throw new Error(`detected disallowed custom content in v2store for stage --v2-deprecation=${stage}`);
  }
  logger.warn('detected custom v2store content. Etcd v3.5 is the last version allowing to access it using API v2. Please remove the content.');
}
