import dgram from 'node:dgram';
import net from 'node:net';

/**
 * A small authoritative DNS server for tests (UDP only).
 *   dns-server BIND_ADDRESS PORT ZONE_JSON [TCP_PORT]
 * With TCP_PORT it also accepts TCP connections on every address at that port (reads, then closes): the service
 * the clients resolve and connect to.
 * ZONE_JSON: { "ttl": 1, "a": { "api.internal": ["10.81.0.2"] }, "cname": { "www.internal": "api.internal" },
 *              "ptr": { "10.81.0.2": "srv-b.zone.test" }, "garbage": false }
 * Answers A/AAAA (following its CNAMEs, the chain in the answer as a real server sends it) and PTR; NXDOMAIN
 * otherwise. With "garbage": true it answers every query with bytes that are no DNS message. Prints
 * {"pid", "ready": true} when bound.
 */
interface Zone {
  readonly ttl?: number;
  readonly a?: Record<string, string[]>;
  readonly cname?: Record<string, string>;
  readonly ptr?: Record<string, string>;
  readonly garbage?: boolean;
}

const [bind = '127.0.0.1', portText = '53', zoneText = '{}', tcpPort] = process.argv.slice(2);
process.title = 'dns-test-server';
const zone = JSON.parse(zoneText) as Zone;

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  return Buffer.concat([...parts.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

function record(name: string, type: number, ttl: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeName(name), fixed, rdata]);
}

function ptrAddress(qname: string): string | null {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\.in-addr\.arpa$/.exec(qname);
  return v4 ? `${v4[4]}.${v4[3]}.${v4[2]}.${v4[1]}` : null;
}

function answer(query: Buffer): Buffer | null {
  if (query.length < 12) return null;
  let at = 12;
  const labels: string[] = [];
  while (at < query.length && query[at] !== 0) {
    const len = query[at] as number;
    labels.push(query.subarray(at + 1, at + 1 + len).toString('ascii').toLowerCase());
    at += 1 + len;
  }
  at += 1;
  if (at + 4 > query.length) return null;
  const qtype = query.readUInt16BE(at);
  const question = query.subarray(12, at + 4);
  const qname = labels.join('.');
  const ttl = zone.ttl ?? 1;
  const answers: Buffer[] = [];
  if (qtype === 12) {
    const address = ptrAddress(qname);
    const target = address === null ? undefined : zone.ptr?.[address];
    if (target !== undefined) answers.push(record(qname, 12, ttl, encodeName(target)));
  } else if (qtype === 1 || qtype === 28) {
    let name = qname;
    for (let hops = 0; hops < 8 && zone.cname?.[name] !== undefined; hops++) {
      const target = zone.cname[name] as string;
      answers.push(record(name, 5, ttl, encodeName(target)));
      name = target;
    }
    for (const address of zone.a?.[name] ?? []) {
      const family = net.isIP(address);
      if (qtype === 1 && family === 4) answers.push(record(name, 1, ttl, Buffer.from(address.split('.').map(Number))));
    }
  }
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  // QR, AA, RD copied; RCODE 3 (NXDOMAIN) when nothing answers.
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | (answers.length === 0 ? 3 : 0), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, question, ...answers]);
}

if (tcpPort !== undefined) {
  net.createServer((s) => {
    s.on('error', () => undefined);
    s.resume();
    s.on('end', () => s.end());
  }).listen(Number(tcpPort), '0.0.0.0');
}

const socket = dgram.createSocket('udp4');
socket.on('message', (msg, rinfo) => {
  // Garbage: a response bit, then label bytes that run past the end of the packet.
  const reply = zone.garbage === true ? Buffer.from([msg[0] ?? 0, msg[1] ?? 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 63, 0x41, 0x41]) : answer(msg);
  if (reply !== null) socket.send(reply, rinfo.port, rinfo.address);
});
socket.bind(Number(portText), bind, () => process.stdout.write(`${JSON.stringify({ pid: process.pid, ready: true })}\n`));
