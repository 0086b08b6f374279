import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Reads a whole /proc file with few, large read(2) calls. /proc files report size 0, so the buffer grows
 * as needed; seq_file fills each large read in one go, which is what makes big tables cheap to read.
 * Throws the fs error as is (callers decide whether a vanished process matters).
 */
export function readProcFile(path: string, initialSize = 1 << 16): Buffer {
  const fd = openSync(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(initialSize);
    let used = 0;
    for (;;) {
      if (used === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, used);
        buf = bigger;
      }
      const n = readSync(fd, buf, used, buf.length - used, null);
      if (n === 0) break;
      used += n;
    }
    return buf.subarray(0, used);
  } finally {
    closeSync(fd);
  }
}

/** Reads at most `limit` bytes from the start of a file (one read): for files whose tail we drop anyway. */
export function readProcFileHead(path: string, limit: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(limit);
    let used = 0;
    while (used < limit) {
      const n = readSync(fd, buf, used, limit - used, null);
      if (n === 0) break;
      used += n;
    }
    return buf.subarray(0, used);
  } finally {
    closeSync(fd);
  }
}

/**
 * One buffer for reading the same big /proc files again and again (the net tables, each interval): it grows
 * to the largest file and stays, instead of megabytes allocated, copied while doubling, and freed per read.
 * What `read` returns is a view of the buffer, valid until the next read.
 */
export class ReadBuffer {
  private buf: Buffer;

  constructor(initialSize = 1 << 16) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /**
   * Reads only the start of the file: after each chunk, `end` is asked where the wanted part ends (-1: not
   * reached yet) and the reading stops there. A /proc file's rest is then never even generated.
   */
  readPrefix(path: string, end: (view: Buffer) => number, chunkSize = 1 << 16): Buffer {
    const fd = openSync(path, 'r');
    try {
      let used = 0;
      for (;;) {
        if (this.buf.length - used < chunkSize) {
          const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, used + chunkSize));
          this.buf.copy(bigger, 0, 0, used);
          this.buf = bigger;
        }
        const n = readSync(fd, this.buf, used, chunkSize, null);
        if (n === 0) return this.buf.subarray(0, used);
        used += n;
        const at = end(this.buf.subarray(0, used));
        if (at >= 0) return this.buf.subarray(0, at);
      }
    } finally {
      closeSync(fd);
    }
  }

  read(path: string): Buffer {
    const fd = openSync(path, 'r');
    try {
      let used = 0;
      for (;;) {
        if (used === this.buf.length) {
          const bigger = Buffer.allocUnsafe(this.buf.length * 2);
          this.buf.copy(bigger, 0, 0, used);
          this.buf = bigger;
        }
        const n = readSync(fd, this.buf, used, this.buf.length - used, null);
        if (n === 0) break;
        used += n;
      }
      return this.buf.subarray(0, used);
    } finally {
      closeSync(fd);
    }
  }
}
