import { FieldOverflowError } from './errors.js'

/** Big-endian writer for TPM structures; a value that does not fit its field is refused, not truncated. */
export class TpmWriter {
  private readonly parts: Uint8Array[] = []

  private check(value: number, bits: 8 | 16 | 32): number {
    if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits)
      throw new FieldOverflowError(`u${bits}`, String(value))
    return value
  }

  u8(v: number): this {
    this.parts.push(Uint8Array.of(this.check(v, 8)))
    return this
  }
  u16(v: number): this {
    const b = new Uint8Array(2)
    new DataView(b.buffer).setUint16(0, this.check(v, 16))
    this.parts.push(b)
    return this
  }
  u32(v: number): this {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, this.check(v, 32))
    this.parts.push(b)
    return this
  }
  u64(v: bigint): this {
    if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) throw new FieldOverflowError('u64', String(v))
    const b = new Uint8Array(8)
    new DataView(b.buffer).setBigUint64(0, v)
    this.parts.push(b)
    return this
  }

  raw(bytes: Uint8Array): this {
    this.parts.push(bytes.slice())
    return this
  }
  /** A TPM2B: u16 size then the bytes. */
  tpm2b(bytes: Uint8Array): this {
    return this.u16(bytes.length).raw(bytes)
  }

  finish(): Uint8Array {
    let length = 0
    for (const part of this.parts) length += part.length
    const out = new Uint8Array(length)
    let offset = 0
    for (const part of this.parts) {
      out.set(part, offset)
      offset += part.length
    }
    return out
  }
}
