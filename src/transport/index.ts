// The peer transport between members (DESIGN.md §6): raft message streams, snapshot transfer and a
// small RPC over HTTP on the peer URLs. Imports only src/raft types; the server wires it to its driver.
export { PeerTransport, defaultPeerTransportLimits, defaultPeerTransportTimings } from './peer-transport.js';
export type { PeerTransportLimits, PeerTransportOptions, PeerTransportTimings } from './peer-transport.js';
export { PeerRequestError } from './peer-rpc.js';
export type { PeerRequestFailure, PeerResponse, RpcHandler, RpcHandlerOptions } from './peer-rpc.js';
export type { SnapshotSink, SnapshotSource } from './snapshot-transfer.js';
export { decodeMessage, encodeMessage, encodedMessageSize, MessageCodecError } from './message-codec.js';
