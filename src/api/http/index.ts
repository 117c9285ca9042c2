// The HTTP side of the client port: the v3 JSON gateway (grpc-gateway v1 rules), /version,
// /health, /livez, /readyz and /metrics, as a fastify app that the client listener feeds.
// Imports server/ types and the gRPC layer's translators and proto loader; nothing imports it
// but main.
export { createHttpApp, createMetricsHttpApp, closeHttpApp, gatewayBodyLimitBytes, healthCheckTimeoutMsDefault, type HttpAppOptions } from './app.js';
export { EtcdMetrics, type EtcdMetricsOptions, type ServerMetricsRecorder } from './metrics.js';
export { httpStatusFromGrpcCode } from './gateway-errors.js';
