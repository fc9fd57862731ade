import { TPM2_LIMITS } from './limits.js'
import { MalformedTpmStructureError } from './errors.js'

/**
 * Bounds-checked big-endian reader over one TPM structure. Every failure is a
 * MalformedTpmStructureError naming the structure and the offset, never a RangeError.
 */
export class TpmReader {
  private readonly view: DataView
  private readonly bytes: Uint8Array
  offset = 0
  readonly structure: string

  constructor(bytes: Uint8Array, structure: string, maxSize: number = TPM2_LIMITS.maxStructureSize) {
    if (!(bytes instanceof Uint8Array)) throw new MalformedTpmStructureError(structure, 0, 'not a byte array')
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.structure = structure
    if (bytes.length > maxSize) this.fail(`${bytes.length} bytes exceed the ${maxSize}-byte cap`)
  }

  fail(reason: string): never {
    throw new MalformedTpmStructureError(this.structure, this.offset, reason)
  }

  private need(count: number): void {
    if (count > this.bytes.length - this.offset)
      this.fail(`truncated: needs ${count} more bytes, ${this.bytes.length - this.offset} left`)
  }

  u8(): number {
    this.need(1)
    return this.view.getUint8(this.offset++)
  }
  u16(): number {
    this.need(2)
    const v = this.view.getUint16(this.offset)
    this.offset += 2
    return v
  }
  u32(): number {
    this.need(4)
    const v = this.view.getUint32(this.offset)
    this.offset += 4
    return v
  }
  u64(): bigint {
    this.need(8)
    const v = this.view.getBigUint64(this.offset)
    this.offset += 8
    return v
  }

  /** A copy, so that later changes to the input cannot alter parsed data. */
  bytesOf(count: number): Uint8Array {
    this.need(count)
    const out = this.bytes.slice(this.offset, this.offset + count)
    this.offset += count
    return out
  }

  /** A TPM2B: u16 size then that many bytes; the size is checked against the type's own maximum. */
  tpm2b(max: number = TPM2_LIMITS.maxBufferSize, what = 'a sized buffer'): Uint8Array {
    const size = this.u16()
    if (size > max) {
      this.offset -= 2
      this.fail(`${what} of ${size} bytes exceeds its maximum of ${max}`)
    }
    return this.bytesOf(size)
  }

  get remaining(): number {
    return this.bytes.length - this.offset
  }

  /** Strict decoding: trailing bytes are an error. */
  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected trailing bytes`)
  }
}

/** Kept importable from here: code outside this folder imported both classes from reader.js. */
export { TpmWriter } from './writer.js'
