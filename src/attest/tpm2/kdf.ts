import crypto from 'node:crypto'
import type { HashAlg } from '../pcrs.js'
import { TpmWriter } from './writer.js'

/** Labels are NUL-terminated on the wire; a label that already ends in NUL is not terminated twice. */
function labelBytes(label: string): Buffer {
  const bytes = Buffer.from(label, 'ascii')
  return bytes.length > 0 && bytes[bytes.length - 1] === 0 ? bytes : Buffer.concat([bytes, Buffer.of(0)])
}

/**
 * KDFa (TPM 2.0 Part 1, §11.4.10.2): SP 800-108 counter-mode KDF with HMAC,
 * HMAC(key, counter ‖ label ‖ 00 ‖ contextU ‖ contextV ‖ bits).
 */
export function kdfa(
  hash: HashAlg,
  key: Uint8Array,
  label: string,
  contextU: Uint8Array,
  contextV: Uint8Array,
  bits: number
): Uint8Array {
  const bytes = Math.ceil(bits / 8)
  const out: Buffer[] = []
  let produced = 0
  for (let counter = 1; produced < bytes; counter++) {
    const block = crypto
      .createHmac(hash, key)
      .update(new TpmWriter().u32(counter).finish())
      .update(labelBytes(label))
      .update(contextU)
      .update(contextV)
      .update(new TpmWriter().u32(bits).finish())
      .digest()
    out.push(block)
    produced += block.length
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, bytes))
}

/**
 * KDFe (TPM 2.0 Part 1, §11.4.10.3): SP 800-56A concatenation KDF for ECDH,
 * H(counter ‖ Z ‖ label ‖ 00 ‖ partyUInfo ‖ partyVInfo).
 */
export function kdfe(
  hash: HashAlg,
  z: Uint8Array,
  label: string,
  partyU: Uint8Array,
  partyV: Uint8Array,
  bits: number
): Uint8Array {
  const bytes = Math.ceil(bits / 8)
  const out: Buffer[] = []
  let produced = 0
  for (let counter = 1; produced < bytes; counter++) {
    const block = crypto
      .createHash(hash)
      .update(new TpmWriter().u32(counter).finish())
      .update(z)
      .update(labelBytes(label))
      .update(partyU)
      .update(partyV)
      .digest()
    out.push(block)
    produced += block.length
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, bytes))
}
