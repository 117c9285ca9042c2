// The client listener: owns the client sockets, routes each connection by its first bytes, and
// repairs the HTTP/2 :authority etcdctl sends for http:// endpoints before grpc-js sees it.
// Imports only node, grpc-js (for the connection injector) and pino types; nothing imports server/.
export { ClientListeners, answerHttpVersionNotSupported, clientConnectionsMaxDefault, http1HandlerFor } from './client-listener.js';
export type { ClientListenerOptions, BoundClientListener, Http1ConnectionHandler, ListenerProtocols } from './client-listener.js';
export { ClientFrameRewriter, headerBlockBytesMaxDefault, type ClientFrameRewriterOptions } from './client-frame-rewriter.js';
export { HpackDecoder, type HeaderField } from './hpack-decoder.js';
export { encodeHeaderBlock } from './hpack-encoder.js';
export { repairAuthority, isValidAuthority } from './authority.js';
export { Http2ParseError } from './hpack-error.js';
