// What crash tests hold against a restarted server: the puts it acknowledged, and which of them it
// no longer has as they were answered.

/** A put the server answered: its key, the value sent, the revision of the answer's header. */
export interface AckedPut {
  key: string;
  value: string;
  revision: number;
}

/** What the server holds for a key after the restart. */
export interface StoredKey {
  value: string;
  modRevision: number;
}

/** The acknowledged puts whose key is gone, or holds another value or another mod revision. */
export function lostPuts(acks: AckedPut[], stored: Map<string, StoredKey>): string[] {
  return acks.filter((ack) => stored.get(ack.key)?.value !== ack.value || stored.get(ack.key)?.modRevision !== ack.revision).map((ack) => ack.key);
}
