// Owns the one header through which the listener tells the gRPC layer who a TLS client proved to be:
// the CN of its verified certificate. The rewriter removes this header from whatever a client sends
// on every connection, TLS or not, and adds it only for a verified certificate, so its presence in
// metadata can be trusted by api/grpc as long as clients reach grpc-js through the listener only.
export const verifiedCommonNameHeader = 'etcd-ts-verified-cert-cn';
