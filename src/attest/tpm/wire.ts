/**
 * Wire encodings of the few structures the device layer sends that src/attest/tpm2 does not model
 * (command parameters rather than attestation data).
 */
import { MalformedInputError } from '../../common/index.js'
import { HASH_ALG_ID, hashAlgFromId, DIGEST_SIZE, type HashAlg } from '../pcrs.js'
import type { TpmClock } from './tpm.js'

const TPM_ALG_ECDSA = 0x0018

/** TPMT_SIG_SCHEME { ECDSA, SHA-256 } */
export const ECDSA_SHA256_SCHEME = Uint8Array.of(0x00, TPM_ALG_ECDSA, 0x00, HASH_ALG_ID.sha256)

/** TPM2B_SENSITIVE_CREATE with an empty userAuth and `data` (sealed objects carry their data here). */
export function sensitiveCreate(data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = Buffer.alloc(2 + 2 + 2 + data.length)
  out.writeUInt16BE(4 + data.length, 0)
  out.writeUInt16BE(0, 2)
  out.writeUInt16BE(data.length, 4)
  out.set(data, 6)
  return out
}

/** TPML_DIGEST_VALUES, one TPMT_HA per bank. */
export function digestValues(digests: Partial<Record<HashAlg, Uint8Array>>): Uint8Array {
  const entries = Object.entries(digests) as Array<[HashAlg, Uint8Array]>
  const parts: Buffer[] = [Buffer.alloc(4)]
  parts[0]!.writeUInt32BE(entries.length, 0)
  for (const [alg, value] of entries) {
    if (value.length !== DIGEST_SIZE[alg])
      throw new MalformedInputError(`a ${alg} digest is ${DIGEST_SIZE[alg]} bytes, not ${value.length}`)
    const head = Buffer.alloc(2)
    head.writeUInt16BE(HASH_ALG_ID[alg], 0)
    parts.push(head, Buffer.from(value))
  }
  return Buffer.concat(parts)
}

/** TPML_DIGEST → list of digests. Input comes from our own binding, so bounds are still checked. */
export function parseDigestList(bytes: Uint8Array): Uint8Array[] {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.length < 4) throw new MalformedInputError('TPML_DIGEST is truncated')
  const count = view.readUInt32BE(0)
  if (count > 8) throw new MalformedInputError('TPML_DIGEST has more than 8 digests')
  const out: Uint8Array[] = []
  let offset = 4
  for (let i = 0; i < count; i++) {
    if (offset + 2 > view.length) throw new MalformedInputError('TPML_DIGEST is truncated')
    const size = view.readUInt16BE(offset)
    offset += 2
    if (offset + size > view.length) throw new MalformedInputError('TPML_DIGEST is truncated')
    out.push(new Uint8Array(view.subarray(offset, offset + size)))
    offset += size
  }
  return out
}

/** TPMS_TIME_INFO → TpmClock */
export function parseTimeInfo(bytes: Uint8Array): TpmClock {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.length !== 25) throw new MalformedInputError('TPMS_TIME_INFO must be 25 bytes')
  return {
    time: view.readBigUInt64BE(0),
    clock: view.readBigUInt64BE(8),
    resetCount: view.readUInt32BE(16),
    restartCount: view.readUInt32BE(20),
    safe: view.readUInt8(24) !== 0
  }
}

export { hashAlgFromId }
