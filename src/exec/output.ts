/**
 * Bounded capture of a command's output: the first bytes (head) and the last bytes (tail, in a
 * ring buffer) are kept, whatever the command prints in between is counted and dropped. Memory use
 * is fixed at `maxBytes` however much the command writes.
 */
import { maskCutEdges, maskSecrets } from '../core/env-secrets.js';

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;

export class OutputCollector {
  private readonly head: Buffer;
  private headLen = 0;
  private readonly ring: Buffer;
  private ringPos = 0; // next write position
  private ringFilled = 0;
  private total = 0;

  constructor(readonly maxBytes: number = DEFAULT_MAX_OUTPUT_BYTES) {
    if (!Number.isInteger(maxBytes) || maxBytes < 16) throw new RangeError('maxBytes must be an integer >= 16');
    // Failures are usually at the end: give the tail three quarters.
    const headCap = Math.floor(maxBytes / 4);
    this.head = Buffer.alloc(headCap);
    this.ring = Buffer.alloc(maxBytes - headCap);
  }

  /** Bytes seen so far (kept or not). */
  get totalBytes(): number {
    return this.total;
  }

  /** Bytes held in memory: never more than maxBytes. */
  get retainedBytes(): number {
    return this.headLen + this.ringFilled;
  }

  get truncated(): boolean {
    return this.total > this.retainedBytes;
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    let data = chunk;
    if (this.headLen < this.head.length) {
      const n = Math.min(this.head.length - this.headLen, data.length);
      data.copy(this.head, this.headLen, 0, n);
      this.headLen += n;
      data = data.subarray(n);
    }
    if (data.length === 0) return;
    const cap = this.ring.length;
    if (data.length >= cap) {
      data.copy(this.ring, 0, data.length - cap);
      this.ringPos = 0;
      this.ringFilled = cap;
      return;
    }
    const first = Math.min(cap - this.ringPos, data.length);
    data.copy(this.ring, this.ringPos, 0, first);
    data.copy(this.ring, 0, first);
    this.ringPos = (this.ringPos + data.length) % cap;
    this.ringFilled = Math.min(cap, this.ringFilled + data.length);
  }

  private tailBytes(): Buffer {
    if (this.ringFilled < this.ring.length) return this.ring.subarray(0, this.ringFilled);
    return Buffer.concat([this.ring.subarray(this.ringPos), this.ring.subarray(0, this.ringPos)]);
  }

  /**
   * The captured text: head + `[... N bytes omitted ...]` + tail when truncated, secrets masked,
   * surrounding whitespace trimmed.
   */
  render(secrets: readonly string[] = []): string {
    const head = this.head.subarray(0, this.headLen);
    const tail = this.tailBytes();
    if (!this.truncated) return maskSecrets(Buffer.concat([head, tail]).toString('utf8'), secrets).trim();
    // Do not split a UTF-8 character at the cut: drop the partial bytes (they count as omitted).
    const headCut = utf8CompletePrefix(head);
    const tailStart = utf8FirstBoundary(tail);
    const omitted = this.total - headCut - (tail.length - tailStart);
    let headText = maskSecrets(head.subarray(0, headCut).toString('utf8'), secrets);
    let tailText = maskSecrets(tail.subarray(tailStart).toString('utf8'), secrets);
    ({ head: headText, tail: tailText } = maskCutEdges(headText, tailText, secrets));
    return `${headText.trimStart()}\n[... ${omitted} bytes omitted ...]\n${tailText.trimEnd()}`;
  }
}

/** Length of the longest prefix of `buf` that does not end inside a multi-byte character. */
function utf8CompletePrefix(buf: Buffer): number {
  let i = buf.length - 1;
  let back = 0;
  while (i >= 0 && back < 4 && (buf[i]! & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return buf.length;
  const lead = buf[i]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return buf.length - i >= need ? buf.length : i;
}

/** Index of the first byte of `buf` that is not a UTF-8 continuation byte (at most 3 skipped). */
function utf8FirstBoundary(buf: Buffer): number {
  let i = 0;
  while (i < buf.length && i < 3 && (buf[i]! & 0xc0) === 0x80) i++;
  return i;
}
