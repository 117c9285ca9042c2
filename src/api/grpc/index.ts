// The gRPC API layer: wire messages ⇄ EtcdServerApi calls. Imports only server/server-api,
// mvcc/types, watch/types and errors; nothing below sees a grpc-js object. The translate/ folder
// holds the grpc-js-free conversions the HTTP gateway reuses.
export { createGrpcServer, bindGrpcServer, receiveMessageSlackBytes, type GrpcServerOptions } from './server.js';
export { toGrpcError, GrpcStatusError, type GrpcError } from './errors.js';
export { contextFromMetadata } from './context.js';
export { loadServiceDefinitions, loadProtobufRoot, protosDir, MalformedRequest } from './definitions.js';
export { authService, registerAuthService } from './auth.js';
