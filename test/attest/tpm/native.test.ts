import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { nativeBindingFile, nativeHasher } from '../../../src/attest/index.js'
import { hasherConformance } from '../../helpers/hasher-conformance.js'

describe("attest/tpm/native: the binding's typed surface", () => {
  it('names the built binding it loads (the file the agent measures with its code)', () => {
    assert.match(nativeBindingFile(), /native\/build\/Release\/fleet_tpm\.node$/)
    assert.ok(existsSync(nativeBindingFile()))
  })

  describe("the native batch hasher (the ledger's Hasher, given by the composition code)", () => {
    hasherConformance(nativeHasher())
  })
})
