/**
 * The spawn server's wire format, both ways over a pipe: a frame is a 4-byte big-endian length,
 * that many bytes of JSON header, then the raw bytes of the buffers the header names (`sizes`, in
 * order). Binary output travels as it is: no base64, no escaping.
 *
 * Invariants: a reader hands out whole frames only, in order; a header larger than MAX_HEADER_BYTES
 * or not a JSON object is a broken peer, reported once through `onBroken`, after which nothing
 * more is read.
 */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;

export interface Frame<H> {
  header: H;
  buffers: Buffer[];
}

export function encodeFrame(header: object, buffers: readonly Buffer[] = []): Buffer {
  const json = Buffer.from(JSON.stringify({ ...header, sizes: buffers.map((b) => b.length) }));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([length, json, ...buffers]);
}

export class FrameReader<H> {
  private chunks: Buffer[] = [];
  private held = 0;
  /** Bytes the next frame needs at least, as far as is known: nothing is joined before they are here. */
  private need = 4;
  private broken = false;

  constructor(private readonly onFrame: (frame: Frame<H>) => void, private readonly onBroken: (why: string) => void) {}

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.chunks.push(chunk);
    this.held += chunk.length;
    for (;;) {
      const frame = this.next();
      if (!frame) return;
      this.onFrame(frame);
    }
  }

  private next(): Frame<H> | undefined {
    if (this.held < this.need) return undefined;
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [all];
    const headerLength = all.readUInt32BE(0);
    if (headerLength > MAX_HEADER_BYTES) return this.fail(`a frame header of ${headerLength} bytes`);
    if (all.length < 4 + headerLength) return this.wait(4 + headerLength);
    let header: H & { sizes?: unknown };
    try {
      header = JSON.parse(all.subarray(4, 4 + headerLength).toString('utf8')) as H & { sizes?: unknown };
    } catch {
      return this.fail('a frame header that is not JSON');
    }
    const sizes = header?.sizes;
    if (typeof header !== 'object' || header === null || !Array.isArray(sizes) || !sizes.every((n) => Number.isSafeInteger(n) && n >= 0)) return this.fail('a frame header without buffer sizes');
    const total = 4 + headerLength + (sizes as number[]).reduce((a, b) => a + b, 0);
    if (all.length < total) return this.wait(total);
    const buffers: Buffer[] = [];
    let at = 4 + headerLength;
    for (const n of sizes as number[]) {
      buffers.push(Buffer.from(all.subarray(at, at + n)));
      at += n;
    }
    // Copied: a slice would keep the whole joined buffer (a large frame) alive.
    const rest = Buffer.from(all.subarray(total));
    this.chunks = rest.length ? [rest] : [];
    this.held = rest.length;
    this.need = 4;
    return { header, buffers };
  }

  private wait(bytes: number): undefined {
    this.need = bytes;
    return undefined;
  }

  private fail(why: string): undefined {
    this.broken = true;
    this.chunks = [];
    this.held = 0;
    this.onBroken(why);
    return undefined;
  }
}
