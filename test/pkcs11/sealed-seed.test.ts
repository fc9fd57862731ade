/**
 * The sealed seed format, version 1 (frozen): 0x01 ‖ IV (12) ‖ ciphertext (32) ‖ tag (16). The
 * bytes below are written out by hand so that a change to the encoder shows here first.
 */
import assert from 'node:assert/strict'
import { decodeSealedSeed, SEALED_SEED_BYTES } from '../../src/pkcs11/index.js'
import { encodeSealedSeed, SEALED_SEED_AAD_V1 } from '../../src/pkcs11/sealed-seed.js'

describe('pkcs11: sealed seed format', () => {
  const iv = Uint8Array.from({ length: 12 }, (_, i) => i + 1)
  const sealed = Uint8Array.from({ length: 48 }, (_, i) => 0xa0 + (i % 16))
  const golden =
    '01' + // version 1
    '0102030405060708090a0b0c' + // IV
    'a0a1a2a3a4a5a6a7a8a9aaabacadaeafa0a1a2a3a4a5a6a7a8a9aaabacadaeaf' + // ciphertext of the 32-byte seed
    'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf' // GCM tag

  it('encodes to the golden bytes and decodes back', () => {
    const bytes = encodeSealedSeed({ iv, sealed })
    assert.equal(SEALED_SEED_BYTES, 61)
    assert.equal(Buffer.from(bytes).toString('hex'), golden)
    const decoded = decodeSealedSeed(Buffer.from(golden, 'hex'))
    assert.deepEqual(decoded.iv, iv)
    assert.deepEqual(decoded.sealed, sealed)
  })

  it('binds its purpose and version in the AAD', () => {
    assert.equal(new TextDecoder().decode(SEALED_SEED_AAD_V1), 'fleet pkcs11 sealed ML-DSA-65 seed v1')
  })

  it('refuses another version, another length, nothing', () => {
    const bytes = Buffer.from(golden, 'hex')
    const cases: Array<[Uint8Array, RegExp]> = [
      [Buffer.concat([Buffer.of(2), bytes.subarray(1)]), /unknown version 2/],
      [Buffer.concat([Buffer.of(0), bytes.subarray(1)]), /unknown version 0/],
      [bytes.subarray(0, 60), /is 61 bytes/],
      [Buffer.concat([bytes, Buffer.of(0)]), /is 61 bytes/],
      [new Uint8Array(0), /empty/]
    ]
    for (const [value, reason] of cases) {
      assert.throws(
        () => decodeSealedSeed(value),
        (err: Error & { reason?: string; length?: number; exitCode?: number }) =>
          err.name === 'Pkcs11SealedSeedMalformedError' &&
          reason.test(err.reason ?? '') &&
          err.length === value.length &&
          err.exitCode === 2
      )
    }
  })
})
