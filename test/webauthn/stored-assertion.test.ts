import assert from 'node:assert/strict'
import { encodeCanonical } from '../../src/codec/index.js'
import { toHex } from '../../src/common/index.js'
import { decodeStoredAssertion, encodeStoredAssertion, WEBAUTHN_LIMITS } from '../../src/webauthn/index.js'

describe('webauthn/stored-assertion', () => {
  const assertion = {
    authenticatorData: new Uint8Array(37).fill(0x11),
    clientDataJSON: new TextEncoder().encode('{}'),
    signature: Uint8Array.of(1, 2, 3)
  }

  // Golden bytes: the stored form is frozen (ledger entries embed it).
  const golden = [
    'a4', //                                       map of 4, keys length-first
    '6176',
    '01', //                               "v": 1
    `69${toHex(new TextEncoder().encode('signature'))}`,
    '43010203',
    `6e${toHex(new TextEncoder().encode('clientDataJSON'))}`,
    '427b7d', // bytes "{}"
    `71${toHex(new TextEncoder().encode('authenticatorData'))}`,
    `5825${'11'.repeat(37)}`
  ].join('')

  it('encodes to the frozen canonical CBOR map', () => {
    assert.equal(toHex(encodeStoredAssertion(assertion)), golden)
  })

  it('decodes what it encodes', () => {
    assert.deepEqual(decodeStoredAssertion(encodeStoredAssertion(assertion)), assertion)
  })

  it('refuses another version, a missing or unknown field, and non-canonical CBOR', () => {
    const fields = { v: 1, ...assertion }
    assert.throws(() => decodeStoredAssertion(encodeCanonical({ ...fields, v: 2 })), { name: 'FieldBoundError' })
    const { signature: _signature, ...withoutSignature } = fields
    assert.throws(() => decodeStoredAssertion(encodeCanonical(withoutSignature)), { name: 'MissingFieldError' })
    assert.throws(() => decodeStoredAssertion(encodeCanonical({ ...fields, userHandle: new Uint8Array(1) })), {
      name: 'UnknownFieldError'
    })
    const bytes = encodeStoredAssertion(assertion)
    const longHead = Uint8Array.of(0xb8, 0x04, ...bytes.subarray(1)) // map of 4 with a one-byte length head
    assert.throws(() => decodeStoredAssertion(longHead), { name: 'MalformedCborError' })
    assert.throws(() => decodeStoredAssertion(Uint8Array.of(...bytes, 0)), { name: 'MalformedCborError' })
  })

  it('refuses values outside their bounds, before and after decoding', () => {
    const big = { ...assertion, signature: new Uint8Array(WEBAUTHN_LIMITS.maxSignature + 1) }
    assert.throws(
      () => encodeStoredAssertion(big),
      (error: Error & { limit?: string }) => error.name === 'MalformedWebAuthnError' && error.limit === 'maxSignature'
    )
    assert.throws(() => decodeStoredAssertion(encodeCanonical({ v: 1, ...big })), { name: 'FieldBoundError' })
    const short = encodeCanonical({ v: 1, ...assertion, authenticatorData: new Uint8Array(36) })
    assert.throws(() => decodeStoredAssertion(short), { name: 'MalformedWebAuthnError' })
    const empty = encodeCanonical({ v: 1, ...assertion, signature: new Uint8Array(0) })
    assert.throws(() => decodeStoredAssertion(empty), { name: 'MalformedWebAuthnError' })
    assert.throws(() => decodeStoredAssertion(new Uint8Array(WEBAUTHN_LIMITS.maxStoredAssertion + 1)), {
      name: 'MalformedCborError'
    })
  })
})
