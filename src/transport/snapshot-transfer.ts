// Owns raft snapshot transfer: MsgSnap does not go on the message stream (it would hold up
// heartbeats for the length of a multi-megabyte body); it goes as its own POST to /raft/snapshot
// whose body is frames: the encoded message, then the state-machine bytes, then an empty end frame,
// so a body cut short is always detected.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { MessageType, type Message, type NodeId } from '../raft/types.js';
import { EMPTY_FRAME, FrameDecoder, frameHeader } from './frames.js';
import { writeWithBackpressure } from './http-io.js';
import { decodeMessage, encodeMessage } from './message-codec.js';
import { formatMemberId, HEADER_CLUSTER_ID, HEADER_FROM, HEADER_TO, SNAPSHOT_PATH, type PeerHttpClient } from './peer-http.js';

export type SnapshotSource = (message: Message) => AsyncIterable<Buffer>;
export type SnapshotSink = (message: Message, data: AsyncIterable<Buffer>) => Promise<void>;

/** Splitting large source chunks keeps every frame under the receiver's frame limit. */
export const SNAPSHOT_FRAME_BYTES_MAX = 1 << 20;

export interface SnapshotSendOptions {
  localId: NodeId;
  clusterId: NodeId;
  peerUrl: string;
  client: PeerHttpClient;
  source: SnapshotSource;
  /** No progress on the socket for this long aborts the transfer. */
  idleTimeoutMs: number;
}

/** Sends one snapshot; resolves when the receiver has applied it and handed it to raft, rejects otherwise. */
export async function sendSnapshot(message: Message, options: SnapshotSendOptions): Promise<void> {
  const url = new URL(SNAPSHOT_PATH, options.peerUrl);
  const request = options.client.request(url, {
    [HEADER_CLUSTER_ID]: formatMemberId(options.clusterId),
    [HEADER_FROM]: formatMemberId(options.localId),
    [HEADER_TO]: formatMemberId(message.to),
    'content-type': 'application/octet-stream',
  });
  request.setTimeout(options.idleTimeoutMs, () => request.destroy(new Error(`snapshot transfer idle for ${options.idleTimeoutMs} ms`)));
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
    request.once('close', () => reject(new Error('connection closed before the peer answered')));
  });
  // The receiver may refuse early (bad cluster id): the rejection is observed below, not unhandled.
  response.catch(() => undefined);
  try {
    const encoded = encodeMessage(message);
    await writeWithBackpressure(request, Buffer.concat([frameHeader(encoded.length), encoded]));
    for await (const chunk of options.source(message)) {
      for (let offset = 0; offset < chunk.length; offset += SNAPSHOT_FRAME_BYTES_MAX) {
        const piece = chunk.subarray(offset, offset + SNAPSHOT_FRAME_BYTES_MAX);
        request.write(frameHeader(piece.length));
        await writeWithBackpressure(request, piece);
      }
    }
    request.end(EMPTY_FRAME);
  } catch (error) {
    request.destroy();
    throw error;
  }
  const answer = await response;
  const body = await readSmall(answer);
  if (answer.statusCode !== 204 && answer.statusCode !== 200) {
    throw new Error(`peer refused snapshot: HTTP ${answer.statusCode} ${body}`);
  }
}

async function readSmall(response: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of response) if (text.length < 1024) text += (chunk as Buffer).toString('utf8');
  return text.slice(0, 1024);
}

export interface SnapshotReceiveOptions {
  localId: NodeId;
  from: NodeId;
  frameBytesMax: number;
  idleTimeoutMs: number;
  sink: SnapshotSink;
  onMessage: (message: Message) => void;
  isStopped: () => boolean;
  logger: Logger;
}

async function* framesOf(request: IncomingMessage, frameBytesMax: number): AsyncGenerator<Buffer> {
  const decoder = new FrameDecoder(frameBytesMax);
  for await (const chunk of request) yield* decoder.push(chunk as Buffer);
  if (decoder.bufferedBytes > 0) throw new Error('snapshot body ends inside a frame');
}

/**
 * Receives one snapshot: hands the data to the sink and only after the sink has succeeded gives
 * the message to raft, so raft never believes in state the member does not have. The sink must
 * consume the data to its end; stopping early counts as a failure.
 */
export async function receiveSnapshot(request: IncomingMessage, response: ServerResponse, options: SnapshotReceiveOptions): Promise<void> {
  request.setTimeout(options.idleTimeoutMs, () => request.destroy(new Error(`snapshot transfer idle for ${options.idleTimeoutMs} ms`)));
  const frames = framesOf(request, Math.max(options.frameBytesMax, SNAPSHOT_FRAME_BYTES_MAX))[Symbol.asyncIterator]();
  let dataComplete = false;
  try {
    const first = await frames.next();
    if (first.done) throw new Error('snapshot body is empty');
    const message = decodeMessage(first.value);
    if (message.type !== MessageType.Snap || message.snapshot === undefined) throw new Error(`snapshot request carries message type ${message.type}`);
    if (message.from !== options.from || message.to !== options.localId) throw new Error('snapshot message from/to do not match the request');
    async function* data(): AsyncGenerator<Buffer> {
      for (;;) {
        const next = await frames.next();
        if (next.done) throw new Error('snapshot body truncated before its end marker');
        if (next.value.length === 0) {
          dataComplete = true;
          return;
        }
        yield next.value;
      }
    }
    await options.sink(message, data());
    if (!dataComplete) throw new Error('snapshot receiver stopped before the end of the data');
    if (options.isStopped()) throw new Error('transport stopped');
    options.logger.info({ 'snapshot-index': message.snapshot.metadata.index }, 'received and applied database snapshot');
    options.onMessage(message);
    response.writeHead(204).end();
  } catch (error) {
    options.logger.warn({ error: (error as Error).message }, 'failed to receive database snapshot');
    if (!response.headersSent && !response.destroyed) response.writeHead(500, { 'content-type': 'text/plain' }).end((error as Error).message);
    request.destroy();
  }
}
