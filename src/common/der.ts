/**
 * A bounded DER reader for the few parts of X.509 certificates this project reads itself, after
 * the certificate was parsed whole (node:crypto's X509Certificate does not expose extensions).
 * Low tag numbers and definite lengths of at most three bytes only; every structure is read within
 * its container, children are counted and OIDs measured against the caller's limits, and every
 * failure goes through the caller's `fail` (its own typed error), with the byte offset named.
 */

/** One DER TLV: its tag, and where its contents start and end (the next TLV starts at `end`). */
export interface DerTlv {
  readonly tag: number
  readonly start: number
  readonly end: number
}

/** One extension of a certificate: whether critical, and its extnValue OCTET STRING. */
export interface DerExtension {
  readonly critical: boolean
  /** The OCTET STRING's contents (what the extension's own syntax encodes). */
  readonly value: DerTlv
}

/** The caller's bounds, and how a failure is thrown. */
export interface DerReaderOptions {
  /** Elements of one structure read at most. */
  readonly maxElements: number
  /** Bytes of one OID at most. */
  readonly maxOidBytes: number
  /** Throws the caller's error for `reason`. */
  readonly fail: (reason: string) => never
}

export const DER_TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  SEQUENCE: 0x30,
  /** tbsCertificate's [3] EXPLICIT extensions. */
  EXTENSIONS: 0xa3
} as const

/** Reads DER out of one buffer, within the bounds it was made with. */
export class DerReader {
  readonly der: Uint8Array
  private readonly options: DerReaderOptions

  constructor(der: Uint8Array, options: DerReaderOptions) {
    this.der = der
    this.options = options
  }

  /** The TLV at `offset`, within `limit`. */
  tlv(offset: number, limit: number): DerTlv {
    const { der } = this
    const fail = (reason: string): never => this.options.fail(`${reason} at byte ${offset}`)
    if (offset + 2 > limit) fail('truncated DER')
    const tag = der[offset]!
    if ((tag & 0x1f) === 0x1f) fail('a high tag number')
    let length = der[offset + 1]!
    let start = offset + 2
    if (length >= 0x80) {
      const count = length & 0x7f
      if (count === 0 || count > 3 || start + count > limit) fail('an unsupported DER length')
      length = 0
      for (let i = 0; i < count; i++) length = length * 256 + der[start + i]!
      start += count
    }
    if (start + length > limit) fail('a DER length past its container')
    return { tag, start, end: start + length }
  }

  /** The TLVs inside `parent`, at most `maxElements` of them. */
  children(parent: DerTlv): DerTlv[] {
    const out: DerTlv[] = []
    for (let offset = parent.start; offset < parent.end; ) {
      if (out.length >= this.options.maxElements)
        this.options.fail(`more than ${this.options.maxElements} elements in one structure`)
      const child = this.tlv(offset, parent.end)
      out.push(child)
      offset = child.end
    }
    return out
  }

  /** An OBJECT IDENTIFIER's contents in dotted form. */
  oid(t: DerTlv): string {
    const bytes = this.der.subarray(t.start, t.end)
    if (bytes.length === 0 || bytes.length > this.options.maxOidBytes) this.options.fail('an OID of unusual length')
    const parts: number[] = [Math.min(2, Math.floor(bytes[0]! / 40)), 0]
    parts[1] = bytes[0]! - parts[0]! * 40
    let value = 0
    for (const byte of bytes.subarray(1)) {
      value = value * 128 + (byte & 0x7f)
      if ((byte & 0x80) === 0) {
        parts.push(value)
        value = 0
      }
    }
    return parts.join('.')
  }

  /** The contents of `t` as bytes. */
  bytes(t: DerTlv): Uint8Array {
    return this.der.subarray(t.start, t.end)
  }

  /** The extensions of the certificate this reader holds, by OID. */
  certificateExtensions(): Map<string, DerExtension> {
    const certificate = this.tlv(0, this.der.length)
    const tbs = this.children(certificate)[0]
    if (tbs === undefined) this.options.fail('no tbsCertificate')
    const out = new Map<string, DerExtension>()
    const wrapper = this.children(tbs!).find((t) => t.tag === DER_TAG.EXTENSIONS)
    if (wrapper === undefined) return out
    const list = this.children(wrapper)[0]
    if (list === undefined) return out
    for (const extension of this.children(list)) {
      const fields = this.children(extension)
      const oid = fields[0]
      const octets = fields[fields.length - 1]
      if (oid === undefined || oid.tag !== DER_TAG.OID || octets === undefined || octets.tag !== DER_TAG.OCTET_STRING)
        this.options.fail('a malformed extension')
      const critical = fields.length === 3 && fields[1]!.tag === DER_TAG.BOOLEAN && this.der[fields[1]!.start] !== 0
      out.set(this.oid(oid!), { critical, value: octets! })
    }
    return out
  }
}
