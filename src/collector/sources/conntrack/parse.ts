import type { ConntrackTuple, Family, Protocol } from '../../../domain/connection.js';
import { canonicalAddressText } from '../procfs/address.js';
import { natKindOf } from './nat.js';
import {
  CONNTRACK_TCP_STATES, type ConntrackEvent, type ConntrackEventType, type ConntrackLine, type ConntrackParse,
  type ConntrackTcpState, type Flow, type FlowCounters,
} from './types.js';

/**
 * Pure parser of the three textual forms of conntrack entries:
 *   conntrack -L -o extended,id          ipv4 2 tcp 6 431999 ESTABLISHED src=.. dst=.. sport=.. dport=.. src=.. ... id=N
 *   conntrack -E -o timestamp,extended,id [1700000000.123456]  [NEW] ipv4 2 tcp 6 120 SYN_SENT src=.. ... id=N
 *   /proc/net/nf_conntrack                ipv4 2 tcp 6 431999 ESTABLISHED src=.. ... mark=0 zone=0 use=2
 * Optional parts (timestamp, event, layer-3 name, timeout, state) are recognised by their shape, and the
 * key=value part by key: the first src/dst/sport/dport group is the original tuple, the second the reply.
 * Never throws.
 */

const EVENT_TOKENS: Readonly<Record<string, ConntrackEventType>> = {
  '[NEW]': 'NEW',
  '[UPDATE]': 'UPDATE',
  '[DESTROY]': 'DESTROY',
};

const TCP_STATES: ReadonlySet<string> = new Set(CONNTRACK_TCP_STATES);

function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    let c = line.charCodeAt(i);
    while (i < n && (c === 32 || c === 9 || c === 13)) c = line.charCodeAt(++i);
    if (i >= n) break;
    const start = i;
    while (i < n && c !== 32 && c !== 9 && c !== 13) c = line.charCodeAt(++i);
    tokens.push(line.slice(start, i));
  }
  return tokens;
}

function isDigits(text: string | undefined): text is string {
  if (text === undefined || text.length === 0 || text.length > 20) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function toNumber(text: string): number | null {
  if (!isDigits(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

/** '[1700000000.123456]' -> epoch ms (floored), or null if the token is not a timestamp. */
function parseTimestamp(token: string): number | null {
  if (token.length < 3 || token[0] !== '[' || token[token.length - 1] !== ']') return null;
  const inner = token.slice(1, -1);
  const dot = inner.indexOf('.');
  const secText = dot < 0 ? inner : inner.slice(0, dot);
  const fracText = dot < 0 ? '' : inner.slice(dot + 1);
  if (!isDigits(secText) || (fracText.length > 0 && !isDigits(fracText))) return null;
  const ms = Number(`${fracText}000`.slice(0, 3));
  return Number(secText) * 1000 + ms;
}

interface TupleBuilder {
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort?: number;
  family?: Family;
  packets?: number;
  bytes?: number;
}

function complete(t: TupleBuilder): ConntrackTuple | null {
  if (t.src === undefined || t.dst === undefined || t.srcPort === undefined || t.dstPort === undefined) return null;
  return { src: t.src, dst: t.dst, srcPort: t.srcPort, dstPort: t.dstPort };
}

function counters(t: TupleBuilder): FlowCounters | null {
  return t.packets === undefined || t.bytes === undefined ? null : { packets: t.packets, bytes: t.bytes };
}

function malformed(reason: string): ConntrackLine {
  return { kind: 'malformed', reason };
}

/** Parses one line of any of the three forms. */
export function parseConntrackLine(line: string): ConntrackLine {
  const tokens = tokenize(line);
  if (tokens.length === 0) return { kind: 'empty' };
  let i = 0;
  const timestampMs = parseTimestamp(tokens[0] ?? '');
  if (timestampMs !== null) i++;
  const event = EVENT_TOKENS[tokens[i] ?? ''] ?? null;
  if (event !== null) i++;

  let family: Family | null = null;
  const l3 = tokens[i];
  if (l3 === 'ipv4' || l3 === 'ipv6') {
    if (!isDigits(tokens[i + 1])) return malformed('layer-3 protocol without its number');
    family = l3 === 'ipv4' ? 4 : 6;
    i += 2;
  }
  const l4 = tokens[i];
  if (l4 === undefined || l4.indexOf('=') >= 0 || !isDigits(tokens[i + 1])) return malformed('no layer-4 protocol');
  i += 2;
  if (l4 !== 'tcp' && l4 !== 'udp') {
    // Only call it another protocol if the rest looks like an entry; garbage stays garbage.
    return tokens.slice(i).some((t) => t.startsWith('src=')) ? { kind: 'other-protocol', protocol: l4 } : malformed('not an entry');
  }
  const protocol: Protocol = l4;

  let timeoutSec: number | null = null;
  if (isDigits(tokens[i])) timeoutSec = toNumber(tokens[i++] ?? '');
  let state: ConntrackTcpState | null = null;
  const maybeState = tokens[i];
  if (maybeState !== undefined && maybeState.indexOf('=') < 0 && maybeState[0] !== '[') {
    if (!TCP_STATES.has(maybeState)) return malformed(`unknown state ${maybeState}`);
    state = maybeState as ConntrackTcpState;
    i++;
  }

  const tuples: [TupleBuilder, TupleBuilder] = [{}, {}];
  let current = 0;
  let id: number | null = null;
  let mark: number | null = null;
  let zone: number | null = null;
  let assured = false;
  let unreplied = false;
  for (; i < tokens.length; i++) {
    const token = tokens[i] ?? '';
    if (token[0] === '[') {
      if (token === '[ASSURED]') assured = true;
      else if (token === '[UNREPLIED]') unreplied = true;
      else if (token[token.length - 1] !== ']') return malformed(`bad flag ${token}`);
      continue;
    }
    const eq = token.indexOf('=');
    if (eq <= 0) return malformed(`unexpected token ${token}`);
    const key = token.slice(0, eq);
    const value = token.slice(eq + 1);
    switch (key) {
      case 'src':
      case 'dst': {
        // A second src= opens the reply tuple.
        if (key === 'src' && tuples[current]?.src !== undefined) {
          if (current === 1) return malformed('more than two tuples');
          current = 1;
        }
        const parsed = canonicalAddressText(value);
        if (parsed === null) return malformed(`bad address ${value}`);
        const t = tuples[current] as TupleBuilder;
        if (t.family !== undefined && t.family !== parsed.family) return malformed('mixed address families');
        t.family = parsed.family;
        t[key] = parsed.address;
        break;
      }
      case 'sport':
      case 'dport': {
        const port = toNumber(value);
        if (port === null || port > 65535) return malformed(`bad port ${value}`);
        (tuples[current] as TupleBuilder)[key === 'sport' ? 'srcPort' : 'dstPort'] = port;
        break;
      }
      case 'packets':
      case 'bytes': {
        const n = toNumber(value);
        if (n === null) return malformed(`bad counter ${token}`);
        (tuples[current] as TupleBuilder)[key] = n;
        break;
      }
      case 'id':
        id = toNumber(value); // the last id= wins (icmp entries also have an id= of their own)
        break;
      case 'mark':
        mark = toNumber(value);
        break;
      case 'zone':
        zone = toNumber(value);
        break;
      default:
        break; // use=, secctx=, labels=, helper=, delta-time=, zone-orig= ...: not needed
    }
  }
  const original = complete(tuples[0]);
  const reply = complete(tuples[1]);
  if (original === null || reply === null) return malformed('incomplete tuples');
  const addressFamily = tuples[0].family ?? 4;
  if (tuples[1].family !== addressFamily || (family !== null && family !== addressFamily)) return malformed('family mismatch');
  const flow: Flow = {
    family: addressFamily,
    protocol,
    original,
    reply,
    state: protocol === 'tcp' ? state : null,
    id,
    mark,
    zone,
    assured,
    unreplied,
    timeoutSec,
    kind: natKindOf(original, reply),
    originalCounters: counters(tuples[0]),
    replyCounters: counters(tuples[1]),
  };
  return { kind: 'flow', flow, event, timestampMs };
}

/** Parses many lines (a list dump, a /proc file, or a batch of events). */
export function parseConntrackText(text: string): ConntrackParse {
  const flows: Flow[] = [];
  const events: ConntrackEvent[] = [];
  let malformedCount = 0;
  let otherProtocol = 0;
  for (const line of text.split('\n')) {
    const parsed = parseConntrackLine(line);
    if (parsed.kind === 'flow') {
      flows.push(parsed.flow);
      if (parsed.event !== null) events.push({ type: parsed.event, timestampMs: parsed.timestampMs, flow: parsed.flow });
    } else if (parsed.kind === 'malformed') malformedCount++;
    else if (parsed.kind === 'other-protocol') otherProtocol++;
  }
  return { flows, events, malformed: malformedCount, otherProtocol };
}
