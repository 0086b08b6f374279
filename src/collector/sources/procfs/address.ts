/**
 * IP address text for the sources: decoding the kernel's hex words in /proc/net/{tcp,udp}[6], parsing the
 * dotted/colon text conntrack prints, and rendering both to one canonical form (IPv6 compressed per
 * RFC 5952, IPv4-mapped IPv6 unwrapped to IPv4) so that the same address always compares equal.
 * Pure functions, no I/O.
 */

/** Byte order of the machine that wrote the /proc file: the kernel prints each 32-bit word natively. */
export type ByteOrder = 'LE' | 'BE';

const HEX_DIGITS = '0123456789abcdef';

/** Value of one ASCII hex digit (either case), or -1. */
export function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/**
 * Reads `count` hex digits at `start` of `buf` as an unsigned number, or -1 if any is not hex.
 * At most 13 digits keeps the result exact in a double.
 */
export function readHex(buf: Uint8Array, start: number, count: number): number {
  let value = 0;
  for (let i = 0; i < count; i++) {
    const v = hexValue(buf[start + i] ?? 0);
    if (v < 0) return -1;
    value = value * 16 + v;
  }
  return value;
}

/** Decodes 8 (IPv4) or 32 (IPv6) hex digits as printed in /proc/net/* into 4 or 16 network-order bytes. */
export function decodeProcHexAddress(buf: Uint8Array, start: number, length: number, order: ByteOrder): Uint8Array | null {
  if (length !== 8 && length !== 32) return null;
  const out = new Uint8Array(length / 2);
  for (let word = 0; word < length / 8; word++) {
    for (let b = 0; b < 4; b++) {
      const hi = hexValue(buf[start + word * 8 + b * 2] ?? 0);
      const lo = hexValue(buf[start + word * 8 + b * 2 + 1] ?? 0);
      if (hi < 0 || lo < 0) return null;
      // The word's most significant byte is printed first; on a little-endian host that is the last byte in memory.
      const index = order === 'LE' ? word * 4 + (3 - b) : word * 4 + b;
      out[index] = hi * 16 + lo;
    }
  }
  return out;
}

function isMappedV4(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

function formatV4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

function hex16(value: number): string {
  if (value === 0) return '0';
  let s = '';
  let v = value;
  while (v > 0) {
    s = (HEX_DIGITS[v & 15] ?? '0') + s;
    v >>>= 4;
  }
  return s;
}

/** Canonical text of 4 or 16 network-order bytes (RFC 5952 for IPv6; ::ffff:a.b.c.d becomes a.b.c.d). */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatV4(bytes, 0);
  if (isMappedV4(bytes)) return formatV4(bytes, 12);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // The longest run of two or more zero groups becomes "::"; on a tie, the first run wins (RFC 5952 4.2.3).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  if (bestStart < 0) return groups.map(hex16).join(':');
  const head = groups.slice(0, bestStart).map(hex16).join(':');
  const tail = groups.slice(bestStart + bestLength).map(hex16).join(':');
  return `${head}::${tail}`;
}

/** Parses dotted-quad IPv4 text into 4 bytes, or null. */
export function parseIpv4Text(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] ?? '';
    if (part.length === 0 || part.length > 3) return null;
    let v = 0;
    for (let k = 0; k < part.length; k++) {
      const c = part.charCodeAt(k) - 48;
      if (c < 0 || c > 9) return null;
      v = v * 10 + c;
    }
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

function parseGroups(text: string, into: number[]): boolean {
  if (text.length === 0) return true;
  for (const group of text.split(':')) {
    if (group.length === 0 || group.length > 4) return false;
    let v = 0;
    for (let k = 0; k < group.length; k++) {
      const h = hexValue(group.charCodeAt(k));
      if (h < 0) return false;
      v = v * 16 + h;
    }
    into.push(v);
  }
  return true;
}

/** Parses IPv6 text (full, compressed, or with a dotted IPv4 tail) into 16 bytes, or null. */
export function parseIpv6Text(text: string): Uint8Array | null {
  let body = text;
  const tailBytes: number[] = [];
  const lastColon = body.lastIndexOf(':');
  if (lastColon >= 0 && body.indexOf('.', lastColon) > lastColon) {
    const v4 = parseIpv4Text(body.slice(lastColon + 1));
    if (v4 === null) return null;
    tailBytes.push(...v4);
    // Keep the colon so "::1.2.3.4" still splits around "::".
    body = body.slice(0, lastColon + 1) + '0';
  }
  const groups = tailBytes.length > 0 ? 6 : 8;
  const head: number[] = [];
  const tail: number[] = [];
  const gap = body.indexOf('::');
  if (gap >= 0) {
    if (body.indexOf('::', gap + 1) >= 0) return null;
    if (!parseGroups(body.slice(0, gap), head)) return null;
    if (!parseGroups(body.slice(gap + 2), tail)) return null;
    if (tailBytes.length > 0) tail.pop();
    if (head.length + tail.length > groups - 1) return null;
  } else {
    if (!parseGroups(body, head)) return null;
    if (tailBytes.length > 0) head.pop();
    if (head.length !== groups) return null;
  }
  const all = [...head, ...new Array<number>(groups - head.length - tail.length).fill(0), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < groups; i++) {
    const g = all[i] ?? 0;
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  }
  for (let i = 0; i < tailBytes.length; i++) out[12 + i] = tailBytes[i] ?? 0;
  return out;
}

/** Canonical form of an address given as text, with its family; null when the text is not an address. */
export function canonicalAddressText(text: string): { readonly address: string; readonly family: 4 | 6 } | null {
  if (text.indexOf(':') >= 0) {
    const bytes = parseIpv6Text(text);
    return bytes === null ? null : { address: formatAddress(bytes), family: 6 };
  }
  const bytes = parseIpv4Text(text);
  return bytes === null ? null : { address: formatAddress(bytes), family: 4 };
}

/** True for 0.0.0.0 and :: (after canonicalisation). */
export function isUnspecifiedAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}
