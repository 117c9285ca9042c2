// Client-side HTTP/2 bytes recorded from real etcdctl 3.4 connections, for the listener and h2
// tests (frame builders and the chunk splitter are in test/unit/h2/h2-test-peer.ts).
import { readFileSync } from 'node:fs';

const fixture = (name: string) => Buffer.from(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'latin1').replace(/\s+/g, ''), 'hex');

/** etcdctl 3.4 `endpoint status` on an http:// endpoint: its :authority is the whole URL. */
export const statusConnection = fixture('etcdctl-endpoint-status-http.client.hex');
export const lockConnection = fixture('etcdctl-lock-session.client.hex');
