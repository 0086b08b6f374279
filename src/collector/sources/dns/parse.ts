/**
 * Pure parser of DNS answers (RFC 1035 wire format) as a process received them: which addresses (A, AAAA)
 * the answer gave, under which names, following CNAME chains, with their TTLs. Our own small parser rather
 * than a library: it reads only what we keep, never allocates more than the (capped) packet, and reports a
 * malformed packet as a value the caller counts, instead of throwing from deep inside.
 */

export interface DnsAddressAnswer {
  /** Canonical text of the address. */
  readonly address: string;
  /** The names the address answers for: the A/AAAA owner and every alias whose CNAME chain leads to it. */
  readonly names: readonly string[];
  /** Smallest TTL along the chain, seconds. */
  readonly ttlSeconds: number;
  /** The name the process asked for (the question), when it is one of `names`. */
  readonly asked: string | null;
}

export type DnsParse =
  | { readonly ok: true; readonly answers: readonly DnsAddressAnswer[] }
  | { readonly ok: false; readonly reason: string };

const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const MAX_POINTER_HOPS = 32;
const MAX_RECORDS = 256;

/** Thrown inside the parser only, caught at its top: not an Error, so a flood of bad packets captures no stacks. */
class Malformed {
  constructor(readonly message: string) {}
}

function u16(b: Uint8Array, at: number): number {
  if (at + 2 > b.length) throw new Malformed(`truncated at byte ${at}`);
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

function u32(b: Uint8Array, at: number): number {
  return u16(b, at) * 65536 + u16(b, at + 2);
}

/** Reads a (maybe compressed) name; returns it and the offset just after it in the record. */
function readName(b: Uint8Array, start: number): { name: string; next: number } {
  const labels: string[] = [];
  let at = start;
  let next = -1;
  let hops = 0;
  let length = 0;
  for (;;) {
    if (at >= b.length) throw new Malformed(`name runs past the end at byte ${at}`);
    const len = b[at] as number;
    if (len === 0) {
      if (next < 0) next = at + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (++hops > MAX_POINTER_HOPS) throw new Malformed('compression pointer loop');
      if (next < 0) next = at + 2;
      at = u16(b, at) & 0x3fff;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new Malformed(`bad label type at byte ${at}`);
    if (at + 1 + len > b.length) throw new Malformed(`label runs past the end at byte ${at}`);
    length += len + 1;
    if (length > 255) throw new Malformed('name longer than 255 bytes');
    let label = '';
    for (let i = at + 1; i <= at + len; i++) {
      const c = b[i] as number;
      // Names are kept as text: bytes that would make an unreadable or ambiguous name are refused.
      if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c) throw new Malformed(`unprintable byte in a name at ${i}`);
      label += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 32 : c);
    }
    labels.push(label);
    at += 1 + len;
  }
  return { name: labels.join('.'), next };
}

function ipv4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952 text of an IPv6 address (longest zero run compressed); v4-mapped unwrapped to IPv4 as elsewhere. */
function ipv6(b: Uint8Array, at: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(u16(b, at + 2 * i));
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) return ipv4(b, at + 12);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

interface Rr { readonly name: string; readonly type: number; readonly ttl: number; readonly value: string }

/** Parses one DNS response. Only responses (QR set) without error (RCODE 0) give answers. */
export function parseDnsAnswer(b: Uint8Array): DnsParse {
  try {
    if (b.length < 12) return { ok: false, reason: `shorter than a DNS header (${b.length} bytes)` };
    const flags = u16(b, 2);
    if ((flags & 0x8000) === 0) return { ok: false, reason: 'not a response (QR clear)' };
    const rcode = flags & 0xf;
    const qd = u16(b, 4);
    const an = u16(b, 6);
    if (qd > 16 || an > MAX_RECORDS) return { ok: false, reason: `implausible counts (${qd} questions, ${an} answers)` };
    let at = 12;
    let question: string | null = null;
    for (let i = 0; i < qd; i++) {
      const q = readName(b, at);
      if (i === 0) question = q.name;
      at = q.next + 4;
      if (at > b.length) throw new Malformed('question runs past the end');
    }
    if (rcode !== 0) return { ok: true, answers: [] };
    const rrs: Rr[] = [];
    for (let i = 0; i < an; i++) {
      const { name, next } = readName(b, at);
      const type = u16(b, next);
      const cls = u16(b, next + 2);
      const raw = u32(b, next + 4);
      const ttl = raw > 0x7fffffff ? 0 : raw; // RFC 2181 8: a TTL with the top bit set is taken as zero
      const rdlen = u16(b, next + 8);
      const rdata = next + 10;
      if (rdata + rdlen > b.length) {
        // A reply cut by the copy cap: the records read so far stand, the rest is unknown.
        break;
      }
      if (cls === CLASS_IN) {
        if (type === TYPE_A) {
          if (rdlen !== 4) throw new Malformed(`A record of ${rdlen} bytes`);
          rrs.push({ name, type, ttl, value: ipv4(b, rdata) });
        } else if (type === TYPE_AAAA) {
          if (rdlen !== 16) throw new Malformed(`AAAA record of ${rdlen} bytes`);
          rrs.push({ name, type, ttl, value: ipv6(b, rdata) });
        } else if (type === TYPE_CNAME) {
          rrs.push({ name, type, ttl, value: readName(b, rdata).name });
        }
      }
      at = rdata + rdlen;
    }
    return { ok: true, answers: resolveChains(rrs, question) };
  } catch (err) {
    if (err instanceof Malformed) return { ok: false, reason: err.message };
    throw err;
  }
}

function resolveChains(rrs: readonly Rr[], question: string | null): DnsAddressAnswer[] {
  // alias target -> aliases pointing at it
  const aliasesOf = new Map<string, { name: string; ttl: number }[]>();
  for (const r of rrs) {
    if (r.type !== TYPE_CNAME) continue;
    const list = aliasesOf.get(r.value) ?? [];
    list.push({ name: r.name, ttl: r.ttl });
    aliasesOf.set(r.value, list);
  }
  const out: DnsAddressAnswer[] = [];
  for (const r of rrs) {
    if (r.type === TYPE_CNAME) continue;
    const names = [r.name];
    let ttl = r.ttl;
    const seen = new Set(names);
    for (let i = 0; i < names.length && names.length < MAX_RECORDS; i++) {
      for (const a of aliasesOf.get(names[i] as string) ?? []) {
        if (seen.has(a.name)) continue;
        seen.add(a.name);
        names.push(a.name);
        ttl = Math.min(ttl, a.ttl);
      }
    }
    out.push({ address: r.value, names, ttlSeconds: ttl, asked: question !== null && seen.has(question) ? question : null });
  }
  return out;
}
