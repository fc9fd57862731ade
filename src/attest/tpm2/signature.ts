import { hashAlgFromId, HASH_ALG_ID, type HashAlg } from '../pcrs.js'
import { TPM_ALG } from './constants.js'
import { TpmReader, TpmWriter } from './reader.js'
import { UnsupportedAlgorithmError } from './errors.js'

export type TpmSignature =
  | { kind: 'rsassa' | 'rsapss', hash: HashAlg, signature: Uint8Array }
  | { kind: 'ecdsa', hash: HashAlg, r: Uint8Array, s: Uint8Array }

/** Parses a TPMT_SIGNATURE (RSASSA, RSAPSS, ECDSA; anything else is refused). */
export function parseSignature (bytes: Uint8Array): TpmSignature {
  const r: TpmReader = new TpmReader(bytes, 'TPMT_SIGNATURE')
  const alg = r.u16()
  if (alg !== TPM_ALG.RSASSA && alg !== TPM_ALG.RSAPSS && alg !== TPM_ALG.ECDSA) throw new UnsupportedAlgorithmError('signature', alg)
  const hashId = r.u16()
  const hash = hashAlgFromId(hashId)
  if (hash === undefined) r.fail(`signature hash 0x${hashId.toString(16)} unsupported`)
  let out: TpmSignature
  if (alg === TPM_ALG.ECDSA) {
    out = { kind: 'ecdsa', hash, r: r.tpm2b(), s: r.tpm2b() }
  } else {
    out = { kind: alg === TPM_ALG.RSASSA ? 'rsassa' : 'rsapss', hash, signature: r.tpm2b() }
  }
  r.end()
  return out
}

export function marshalSignature (sig: TpmSignature): Uint8Array {
  const w = new TpmWriter()
  if (sig.kind === 'ecdsa') return w.u16(TPM_ALG.ECDSA).u16(HASH_ALG_ID[sig.hash]).tpm2b(sig.r).tpm2b(sig.s).finish()
  return w.u16(sig.kind === 'rsassa' ? TPM_ALG.RSASSA : TPM_ALG.RSAPSS).u16(HASH_ALG_ID[sig.hash]).tpm2b(sig.signature).finish()
}

function unsignedInteger (bytes: Uint8Array): Buffer {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const trimmed = Buffer.from(bytes.subarray(start))
  return (trimmed[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.of(0), trimmed]) : trimmed
}

/** ECDSA r,s → DER (SEQUENCE of two INTEGERs), as node:crypto verifies by default. */
export function signatureToDer (sig: TpmSignature): Uint8Array {
  if (sig.kind !== 'ecdsa') return sig.signature
  const r = unsignedInteger(sig.r)
  const s = unsignedInteger(sig.s)
  const body = Buffer.concat([Buffer.of(0x02, r.length), r, Buffer.of(0x02, s.length), s])
  return new Uint8Array(Buffer.concat([Buffer.of(0x30, body.length), body]))
}

/** ECDSA r,s → IEEE P1363 (fixed-size r‖s), the hybrid signature's P-256 format. */
export function signatureToP1363 (sig: TpmSignature, size = 32): Uint8Array {
  if (sig.kind !== 'ecdsa') throw new UnsupportedAlgorithmError('signature kind for P1363', TPM_ALG.RSASSA)
  const pad = (v: Uint8Array): Buffer => {
    let start = 0
    while (start < v.length - size && v[start] === 0) start++
    const trimmed = v.subarray(start)
    if (trimmed.length > size) throw new UnsupportedAlgorithmError('ECDSA component size', trimmed.length)
    return Buffer.concat([Buffer.alloc(size - trimmed.length), trimmed])
  }
  return new Uint8Array(Buffer.concat([pad(sig.r), pad(sig.s)]))
}

/** IEEE P1363 r‖s → TPMT_SIGNATURE (ECDSA-SHA256), e.g. to have a TPM verify a software signature. */
export function p1363ToSignature (p1363: Uint8Array): TpmSignature {
  if (p1363.length !== 64) throw new UnsupportedAlgorithmError('P1363 signature length', p1363.length)
  return { kind: 'ecdsa', hash: 'sha256', r: p1363.slice(0, 32), s: p1363.slice(32) }
}
