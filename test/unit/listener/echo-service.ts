// A grpc-js service of unary methods that pass raw bytes through, for the listener tests, and the
// cleanup list those tests run after each test, last registered first.
import type * as grpc from '@grpc/grpc-js';
import { afterEach } from 'vitest';

const identity = (value: Buffer): Buffer => value;

/** A unary method at `path` whose requests and responses are raw bytes. */
export function rawUnaryMethod(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

/** Cleanups registered during a test, run after it in reverse order. */
export function cleanupsAfterEach(): Array<() => Promise<void> | void> {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return cleanups;
}
