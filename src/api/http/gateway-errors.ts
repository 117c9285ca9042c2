// The one mapping from errors to the gateway's answers: a gRPC code and message (EtcdError's exact
// etcd text; malformed JSON or wire values INVALID_ARGUMENT; anything else UNKNOWN, logged), the
// HTTP status grpc-gateway v1 derives from the code, and the two error bodies it writes (unary and
// stream chunk).
import type { Logger } from 'pino';
import { EtcdError, GrpcCode } from '../../errors.js';
import { GrpcStatusError } from '../grpc/errors.js';
import { WireFormatError } from '../grpc/translate/common.js';
import { JsonSyntaxError } from './json-text.js';
import { JsonFormatError } from './proto-json.js';

export interface GatewayStatus {
  code: number;
  message: string;
}

export function toGatewayStatus(error: unknown, logger: Logger, method: string): GatewayStatus {
  if (error instanceof EtcdError) return { code: error.grpcCode, message: error.message };
  if (error instanceof GrpcStatusError) return { code: error.code, message: error.message };
  if (error instanceof JsonSyntaxError || error instanceof JsonFormatError) return { code: GrpcCode.INVALID_ARGUMENT, message: error.message };
  if (error instanceof WireFormatError) return { code: GrpcCode.INVALID_ARGUMENT, message: `invalid request: ${error.message}` };
  const message = error instanceof Error ? error.message : String(error);
  logger.warn({ err: error, method }, 'unexpected error answered as UNKNOWN');
  return { code: GrpcCode.UNKNOWN, message };
}

/**
 * grpc-gateway's HTTPStatusFromCode. etcd 3.4 ships gateway v1.9.5, which answers
 * FAILED_PRECONDITION with 412; 3.5's v1.16.0 answers 400. `failedPreconditionStatus` picks one.
 */
export function httpStatusFromGrpcCode(code: number, failedPreconditionStatus: 400 | 412 = 400): number {
  switch (code) {
    case GrpcCode.OK: return 200;
    case GrpcCode.CANCELLED: return 408;
    case GrpcCode.UNKNOWN: return 500;
    case GrpcCode.INVALID_ARGUMENT: return 400;
    case GrpcCode.DEADLINE_EXCEEDED: return 504;
    case GrpcCode.NOT_FOUND: return 404;
    case GrpcCode.ALREADY_EXISTS: return 409;
    case GrpcCode.PERMISSION_DENIED: return 403;
    case GrpcCode.UNAUTHENTICATED: return 401;
    case GrpcCode.RESOURCE_EXHAUSTED: return 429;
    case GrpcCode.FAILED_PRECONDITION: return failedPreconditionStatus;
    case GrpcCode.ABORTED: return 409;
    case GrpcCode.OUT_OF_RANGE: return 400;
    case GrpcCode.UNIMPLEMENTED: return 501;
    case GrpcCode.INTERNAL: return 500;
    case GrpcCode.UNAVAILABLE: return 503;
    case GrpcCode.DATA_LOSS: return 500;
    default: return 500;
  }
}

/** Go's http.StatusText for the statuses above (the stream error chunk carries it). */
const statusTexts: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout',
  409: 'Conflict', 412: 'Precondition Failed', 429: 'Too Many Requests', 500: 'Internal Server Error',
  501: 'Not Implemented', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** The unary error body of grpc-gateway v1 (same key order as etcd writes it). */
export function unaryErrorBody(status: GatewayStatus): { error: string; message: string; code: number } {
  return { error: status.message, message: status.message, code: status.code };
}

/** The error object that ends a stream after its header went out. */
export function streamErrorChunk(status: GatewayStatus, failedPreconditionStatus: 400 | 412 = 400):
{ error: { grpc_code: number; http_code: number; message: string; http_status: string } } {
  const httpCode = httpStatusFromGrpcCode(status.code, failedPreconditionStatus);
  return { error: { grpc_code: status.code, http_code: httpCode, message: status.message, http_status: statusTexts[httpCode] ?? '' } };
}
