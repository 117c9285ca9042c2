// A tiny authoritative DNS server on 127.0.0.1 (UDP) for the SRV discovery tests: it answers SRV
// queries for the names it is given, A queries for the hosts it is given (127.0.0.1), and
// NXDOMAIN to everything else, recording every question it was asked.
import dgram from 'node:dgram';

export interface SrvRecord {
  /** A host name, or an IP literal (peers dialling it need no resolver). */
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export interface DnsZone {
  /** SRV answers by query name, e.g. `_etcd-server._tcp.cluster.test`. */
  srv: Record<string, SrvRecord[]>;
  /** Names whose A query answers 127.0.0.1. */
  a?: string[];
}

export interface TestDnsServer {
  port: number;
  /** `127.0.0.1:<port>`, as ETCD_TS_DISCOVERY_DNS_SERVERS takes it. */
  address: string;
  /** Every question, as `<qtype> <name>` (33 SRV, 1 A). */
  queries: string[];
  close(): void;
}

function encodeName(name: string): Buffer {
  return Buffer.concat([...name.split('.').filter(Boolean).map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])), Buffer.from([0])]);
}

/** One answer record pointing back at the question's name (0xc00c), class IN, TTL 60. */
function answer(type: number, rdata: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xc0, 12, type >> 8, type & 0xff, 0, 1, 0, 0, 0, 60, rdata.length >> 8, rdata.length & 0xff]), rdata]);
}

export function startDnsServer(zone: DnsZone): Promise<TestDnsServer> {
  const socket = dgram.createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (query, remote) => {
    let offset = 12;
    const labels: string[] = [];
    while (query[offset] !== 0) {
      labels.push(query.subarray(offset + 1, offset + 1 + query[offset]!).toString());
      offset += query[offset]! + 1;
    }
    const question = query.subarray(12, offset + 5);
    const qtype = query.readUInt16BE(offset + 1);
    const name = labels.join('.').toLowerCase();
    queries.push(`${qtype} ${name}`);
    const answers: Buffer[] = [];
    if (qtype === 33) {
      for (const record of zone.srv[name] ?? []) {
        const fixed = Buffer.alloc(6);
        fixed.writeUInt16BE(record.priority ?? 0, 0);
        fixed.writeUInt16BE(record.weight ?? 0, 2);
        fixed.writeUInt16BE(record.port, 4);
        answers.push(answer(33, Buffer.concat([fixed, encodeName(record.target)])));
      }
    }
    if (qtype === 1 && (zone.a ?? []).includes(name)) answers.push(answer(1, Buffer.from([127, 0, 0, 1])));
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(answers.length > 0 ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    socket.send(Buffer.concat([header, question, ...answers]), remote.port, remote.address);
  });
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => {
    const port = socket.address().port;
    resolve({ port, address: `127.0.0.1:${port}`, queries, close: () => socket.close() });
  }));
}
