// The client listener: owns the client sockets, routes each connection by its first bytes (TLS,
// then HTTP/2 or HTTP/1) and hands HTTP/2 to the gRPC connection handler, with the CN of a verified
// client certificate. Imports node, pino types and api/grpc's connection handler; nothing imports server/.
export { ClientListeners, answerHttpVersionNotSupported, clientConnectionsMaxDefault, http1HandlerFor } from './client-listener.js';
export type { ClientListenerOptions, BoundClientListener, Http1ConnectionHandler, ListenerProtocols } from './client-listener.js';
