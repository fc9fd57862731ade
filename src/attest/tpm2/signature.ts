import crypto from 'node:crypto'
import { hashAlgFromId, HASH_ALG_ID, type HashAlg } from '../pcrs.js'
import { TPM_ALG } from './constants.js'
import { TPM2_LIMITS } from './limits.js'
import { TpmReader } from './reader.js'
import { TpmWriter } from './writer.js'
import { UnsupportedAlgorithmError } from './errors.js'

/** A parsed TPMT_SIGNATURE of the kinds an asymmetric TPM key makes. */
export type TpmSignature =
  | { kind: 'rsassa' | 'rsapss'; hash: HashAlg; signature: Uint8Array }
  | { kind: 'ecdsa'; hash: HashAlg; r: Uint8Array; s: Uint8Array }

const KIND_BY_ALG = new Map<number, TpmSignature['kind']>([
  [TPM_ALG.RSASSA, 'rsassa'],
  [TPM_ALG.RSAPSS, 'rsapss'],
  [TPM_ALG.ECDSA, 'ecdsa']
])
const ALG_BY_KIND: Record<TpmSignature['kind'], number> = {
  rsassa: TPM_ALG.RSASSA,
  rsapss: TPM_ALG.RSAPSS,
  ecdsa: TPM_ALG.ECDSA
}

/**
 * Parses a TPMT_SIGNATURE (what `tpm2_quote -s` / `tpm2_sign -o` write in the default tss format).
 * HMAC, ECDAA, SM2, ECSCHNORR and NULL signatures are refused: nothing here can verify them.
 */
export function parseSignature(bytes: Uint8Array): TpmSignature {
  const r: TpmReader = new TpmReader(bytes, 'TPMT_SIGNATURE')
  const alg = r.u16()
  const kind = KIND_BY_ALG.get(alg)
  if (kind === undefined) throw new UnsupportedAlgorithmError('signature algorithm', alg)
  const hashId = r.u16()
  const hash = hashAlgFromId(hashId)
  if (hash === undefined) {
    r.offset -= 2
    r.fail(`signature hash 0x${hashId.toString(16)} unsupported`)
  }
  let out: TpmSignature
  if (kind === 'ecdsa') {
    const sigR = r.tpm2b(TPM2_LIMITS.maxEccParameterSize, 'ECDSA r')
    const sigS = r.tpm2b(TPM2_LIMITS.maxEccParameterSize, 'ECDSA s')
    out = { kind, hash, r: sigR, s: sigS }
  } else {
    out = { kind, hash, signature: r.tpm2b(TPM2_LIMITS.maxRsaKeyBytes, 'the RSA signature') }
  }
  r.end()
  return out
}

export function marshalSignature(sig: TpmSignature): Uint8Array {
  const w = new TpmWriter().u16(ALG_BY_KIND[sig.kind]).u16(HASH_ALG_ID[sig.hash])
  if (sig.kind === 'ecdsa') return w.tpm2b(sig.r).tpm2b(sig.s).finish()
  return w.tpm2b(sig.signature).finish()
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.of(length)
  if (length < 0x100) return Buffer.of(0x81, length)
  return Buffer.of(0x82, length >> 8, length & 0xff)
}

/** A DER INTEGER holding `bytes` as an unsigned big-endian value (minimal encoding). */
function derUnsignedInteger(bytes: Uint8Array): Buffer {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  let value = Buffer.from(bytes.subarray(start))
  if (value.length === 0) value = Buffer.of(0)
  if ((value[0]! & 0x80) !== 0) value = Buffer.concat([Buffer.of(0), value])
  return Buffer.concat([Buffer.of(0x02), derLength(value.length), value])
}

/** ECDSA r,s → DER (SEQUENCE of two INTEGERs), node:crypto's default ECDSA signature encoding. */
export function signatureToDer(sig: TpmSignature): Uint8Array {
  if (sig.kind !== 'ecdsa') return sig.signature
  const body = Buffer.concat([derUnsignedInteger(sig.r), derUnsignedInteger(sig.s)])
  return new Uint8Array(Buffer.concat([Buffer.of(0x30), derLength(body.length), body]))
}

/** ECDSA r,s → IEEE P1363 (fixed-size r‖s, `size` bytes each; 32 for P-256). */
export function signatureToP1363(sig: TpmSignature, size = 32): Uint8Array {
  if (sig.kind !== 'ecdsa') throw new UnsupportedAlgorithmError('signature algorithm for P1363', ALG_BY_KIND[sig.kind])
  const pad = (v: Uint8Array): Buffer => {
    let start = 0
    while (start < v.length - size && v[start] === 0) start++
    const trimmed = v.subarray(start)
    if (trimmed.length > size)
      throw new UnsupportedAlgorithmError(`ECDSA component size (curve has ${size} bytes)`, trimmed.length)
    return Buffer.concat([Buffer.alloc(size - trimmed.length), trimmed])
  }
  return new Uint8Array(Buffer.concat([pad(sig.r), pad(sig.s)]))
}

/** IEEE P1363 r‖s → ECDSA-SHA256 TPMT_SIGNATURE fields, e.g. to have a TPM verify a software P-256 signature. */
export function p1363ToSignature(p1363: Uint8Array): TpmSignature {
  if (p1363.length !== 64) throw new UnsupportedAlgorithmError('P1363 signature length (P-256 needs 64)', p1363.length)
  return { kind: 'ecdsa', hash: 'sha256', r: p1363.slice(0, 32), s: p1363.slice(32) }
}

/**
 * Verifies a TPM signature over `message`, hashed with the signature's own hash algorithm.
 * RSAPSS: TPMs use the largest salt (older firmware) or the hash length (FIPS mode); AUTO takes
 * the salt length from the signature, so both verify. False for any mismatch, never a throw.
 */
export function verifyTpmSignature(key: crypto.KeyObject, message: Uint8Array, sig: TpmSignature): boolean {
  try {
    if (sig.kind === 'ecdsa') {
      if (key.asymmetricKeyType !== 'ec') return false
      return crypto.verify(sig.hash, message, key, signatureToDer(sig))
    }
    if (key.asymmetricKeyType !== 'rsa') return false
    if (sig.kind === 'rsassa')
      return crypto.verify(sig.hash, message, { key, padding: crypto.constants.RSA_PKCS1_PADDING }, sig.signature)
    return crypto.verify(
      sig.hash,
      message,
      { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_AUTO },
      sig.signature
    )
  } catch {
    return false
  }
}
