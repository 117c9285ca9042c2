// TLS for the client and peer sockets: the flags turned into node TLS settings (files read and
// checked at start, auto TLS certificates made with node:crypto), and what is decided about each
// connection after its handshake. Imports only node, config types and pino types; api/listener and
// transport use it, it uses neither.
export { tlsProtocolOptions, tls13CipherSuites, type TlsProtocolOptions } from './cipher-suites.js';
export { loadEndpointTls, type EndpointTls, type EndpointTlsInput, type OutgoingTls, type ServerTls, type TlsRole } from './endpoint-tls.js';
export { describeTlsError, refusalReason, verifiedCommonName, sanDnsLookupsMax } from './client-identity.js';
export { createSelfSignedCertificate, ensureSelfSignedFiles, type SelfSignedCertificate, type SelfSignedFiles, type SelfSignedOptions } from './self-signed.js';
export { loadTlsForUrls, type MemberTls } from './member-tls.js';
