// The public surface of the pure Raft core (src/raft): it imports nothing outside this folder, does no I/O,
// reads no clock and draws randomness only from the injected source. The driver uses RawNode + MemoryStorage.

export * from './types.js';
export { MemoryStorage } from './storage.js';
export { RawNode, type RaftConfig, type RaftStatus } from './raw-node.js';
export { encodeConfChange, decodeConfChange } from './conf-change.js';
export { majorityCommittedIndex } from './quorum.js';
