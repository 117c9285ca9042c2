// The one mapping from errors to gRPC status for the gRPC API: EtcdError ⇒ etcd's code and exact
// message (clients match the text), a malformed wire message ⇒ INVALID_ARGUMENT, anything else ⇒
// UNKNOWN with the raw text, as etcd's togRPCError does, and logged because it is a bug or an
// unplanned failure below us.
import type { Logger } from 'pino';
import { status, type StatusObject } from '@grpc/grpc-js';
import { EtcdError } from '../../errors.js';
import { WireFormatError } from './translate/common.js';

export type GrpcError = Pick<StatusObject, 'code' | 'details'>;

/** A gRPC-level answer that is no etcd error (e.g. the health service's unknown-service NOT_FOUND). */
export class GrpcStatusError extends Error {
  constructor(readonly code: status, details: string) {
    super(details);
    this.name = 'GrpcStatusError';
  }
}

export function toGrpcError(error: unknown, logger: Logger, method: string): GrpcError {
  if (error instanceof EtcdError) return { code: error.grpcCode, details: error.message };
  if (error instanceof GrpcStatusError) return { code: error.code, details: error.message };
  if (error instanceof WireFormatError) return { code: status.INVALID_ARGUMENT, details: `invalid request: ${error.message}` };
  const details = error instanceof Error ? error.message : String(error);
  logger.warn({ err: error, method }, 'unexpected error answered as UNKNOWN');
  return { code: status.UNKNOWN, details };
}
