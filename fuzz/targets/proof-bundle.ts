/** Input: proof bundle JSON text, verified against a fixed feed key (inputs that are not JSON are skipped). */
import { createECDH, createHash, createPrivateKey } from 'node:crypto'
import { verifyProofBundle } from '../../src/ledger/proof.js'
import { HybridSigner, nodeMlDsa65, softwareP256Signer } from '../../src/identity/index.js'
import { typed, utf8 } from '../common.js'

/** The feed key: random-looking but fixed, so generated seeds verify. */
export function fixedFeedSigner(): HybridSigner {
  const d = createHash('sha256').update('fleet-fuzz/proof-bundle/p256').digest()
  const ecdh = createECDH('prime256v1')
  ecdh.setPrivateKey(d)
  const point = ecdh.getPublicKey()
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    d: d.toString('base64url'),
    x: point.subarray(1, 33).toString('base64url'),
    y: point.subarray(33, 65).toString('base64url')
  }
  const p256 = softwareP256Signer(createPrivateKey({ key: jwk, format: 'jwk' }))
  return new HybridSigner(
    p256,
    nodeMlDsa65.fromSeed(createHash('sha256').update('fleet-fuzz/proof-bundle/mldsa65').digest())
  )
}

let feedKey: HybridSigner['publicKey'] | undefined

export function fuzz(data: Buffer): void {
  feedKey ??= fixedFeedSigner().publicKey
  const key = feedKey
  let value: unknown
  try {
    value = JSON.parse(utf8(data))
  } catch {
    return
  }
  typed(() => verifyProofBundle(value, { feedKey: key }))
}
