// zlib.crc32 exists from Node 20.15; the typings of @types/node 20 may predate it.
import * as nodeZlib from 'node:zlib';

export const zlib = nodeZlib as unknown as { crc32(data: Uint8Array | string, value?: number): number };
