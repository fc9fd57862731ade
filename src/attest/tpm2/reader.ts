import { TPM2_LIMITS } from './limits.js'
import { MalformedTpmStructureError } from './errors.js'

/** Bounds-checked big-endian reader: every failure is a MalformedTpmStructureError. */
export class TpmReader {
  private readonly view: DataView
  private readonly bytes: Uint8Array
  offset = 0
  readonly structure: string

  constructor (bytes: Uint8Array, structure: string) {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.structure = structure
  }

  fail (reason: string): never {
    throw new MalformedTpmStructureError(this.structure, this.offset, reason)
  }

  private need (count: number): void {
    if (this.offset + count > this.bytes.length) this.fail(`truncated: needs ${count} more bytes, ${this.bytes.length - this.offset} left`)
  }

  u8 (): number { this.need(1); return this.view.getUint8(this.offset++) }
  u16 (): number { this.need(2); const v = this.view.getUint16(this.offset); this.offset += 2; return v }
  u32 (): number { this.need(4); const v = this.view.getUint32(this.offset); this.offset += 4; return v }
  u64 (): bigint { this.need(8); const v = this.view.getBigUint64(this.offset); this.offset += 8; return v }

  bytesOf (count: number): Uint8Array {
    this.need(count)
    const out = this.bytes.slice(this.offset, this.offset + count)
    this.offset += count
    return out
  }

  /** A TPM2B: u16 size then that many bytes, size capped. */
  tpm2b (max: number = TPM2_LIMITS.maxBufferSize): Uint8Array {
    const size = this.u16()
    if (size > max) this.fail(`a sized buffer of ${size} bytes exceeds ${max}`)
    return this.bytesOf(size)
  }

  get remaining (): number { return this.bytes.length - this.offset }

  /** Strict decoding: trailing bytes are an error. */
  end (): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected trailing bytes`)
  }
}

/** Big-endian writer for the structures this project sends. */
export class TpmWriter {
  private readonly parts: Uint8Array[] = []

  u8 (v: number): this { this.parts.push(Uint8Array.of(v)); return this }
  u16 (v: number): this { const b = new Uint8Array(2); new DataView(b.buffer).setUint16(0, v); this.parts.push(b); return this }
  u32 (v: number): this { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0); this.parts.push(b); return this }
  raw (bytes: Uint8Array): this { this.parts.push(bytes); return this }
  tpm2b (bytes: Uint8Array): this { return this.u16(bytes.length).raw(bytes) }

  finish (): Uint8Array {
    return new Uint8Array(Buffer.concat(this.parts))
  }
}
