import { createHash } from 'node:crypto'

/**
 * PCR banks by hash algorithm. The names are node:crypto's hash names, so `createHash(bank)` works.
 * TPM_ALG_ID values from the TCG Algorithm Registry.
 */
export type HashAlg = 'sha1' | 'sha256' | 'sha384' | 'sha512'

export const HASH_ALGS: readonly HashAlg[] = ['sha1', 'sha256', 'sha384', 'sha512']

export const HASH_ALG_ID: Readonly<Record<HashAlg, number>> = {
  sha1: 0x0004,
  sha256: 0x000b,
  sha384: 0x000c,
  sha512: 0x000d
}

export const DIGEST_SIZE: Readonly<Record<HashAlg, number>> = {
  sha1: 20,
  sha256: 32,
  sha384: 48,
  sha512: 64
}

export function hashAlgFromId(id: number): HashAlg | undefined {
  for (const alg of HASH_ALGS) if (HASH_ALG_ID[alg] === id) return alg
  return undefined
}

/** Number of PCRs of a PC Client TPM (0..23). */
export const PCR_COUNT = 24

/** PCR values of one bank: PCR index → digest. */
export type PcrBank = Map<number, Uint8Array>

/** PCR values by bank. Only banks present were read (or quoted). */
export type PcrValues = Partial<Record<HashAlg, PcrBank>>

/** A PCR selection: for each bank, the PCR indexes selected (sorted ascending, no duplicates). */
export type PcrSelection = Array<{ hash: HashAlg; pcrs: number[] }>

export function digest(alg: HashAlg, ...parts: Uint8Array[]): Uint8Array {
  const h = createHash(alg)
  for (const part of parts) h.update(part)
  return new Uint8Array(h.digest())
}
