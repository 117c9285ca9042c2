// The client listener: owns the client sockets, routes each connection by its first bytes, serves
// HTTP/2 natively when its first request needs nothing changed, and otherwise repairs the :authority
// etcdctl sends for http:// endpoints (and adds a verified client CN) before grpc-js sees it.
// Imports only node, grpc-js (for the connection injector) and pino types; nothing imports server/.
export { ClientListeners, answerHttpVersionNotSupported, clientConnectionsMaxDefault, http1HandlerFor } from './client-listener.js';
export type { ClientListenerOptions, BoundClientListener, Http1ConnectionHandler, ListenerProtocols } from './client-listener.js';
export { ClientFrameRewriter, headerBlockBytesMaxDefault, type ClientFrameRewriterOptions } from './client-frame-rewriter.js';
export { FirstRequestProbe, type ClientConnectionPath, type ProbeVerdict } from './first-request-probe.js';
export { ProbingSocket, firstRequestProbeTimeoutMsDefault, type ProbeOutcome } from './probing-socket.js';
export { HpackDecoder, type HeaderField } from './hpack-decoder.js';
export { encodeHeaderBlock } from './hpack-encoder.js';
export { repairAuthority, isValidAuthority } from './authority.js';
export { Http2ParseError } from './hpack-error.js';
