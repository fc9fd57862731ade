/**
 * Checkpoint notes in format version 1, for the tests that show they are refused: version 1 took
 * the private bytes 0x81 (P-256) and 0x82 (ML-DSA-65) as the C2SP signature type of its key IDs.
 * The signed message did not change between the versions, so a version-2 note becomes the
 * version-1 note of the same signatures by rewriting the signer's key IDs.
 */
import { bytesEqual } from '../../src/common/bytes.js'
import type { HybridPublicKey } from '../../src/identity/index.js'
import { checkpointKeyIds, keyId } from '../../src/ledger/index.js'

export function version1KeyIds(name: string, key: HybridPublicKey): { p256: Uint8Array; mldsa65: Uint8Array } {
  return { p256: keyId(name, Uint8Array.of(0x81), key.p256), mldsa65: keyId(name, Uint8Array.of(0x82), key.mldsa65) }
}

export function asVersion1(note: string, name: string, key: HybridPublicKey): string {
  const current = checkpointKeyIds(name, key)
  const old = version1KeyIds(name, key)
  const prefix = `\u2014 ${name} `
  return note
    .split('\n')
    .map((line) => {
      if (!line.startsWith(prefix)) return line
      const raw = Buffer.from(line.slice(prefix.length), 'base64')
      const id = raw.subarray(0, 4)
      const replaced = bytesEqual(id, current.p256) ? old.p256 : bytesEqual(id, current.mldsa65) ? old.mldsa65 : id
      return `${prefix}${Buffer.concat([replaced, raw.subarray(4)]).toString('base64')}`
    })
    .join('\n')
}
