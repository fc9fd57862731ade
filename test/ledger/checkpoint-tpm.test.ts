/** A checkpoint signed with the DSK in a real (software) TPM plus ML-DSA-65, verified offline. */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { EsysTpm, tpmP256Signer, type SwtpmDevice } from '../../src/attest/index.js'
import { HybridSigner, nodeMlDsa65, softwareP256Signer } from '../../src/identity/index.js'
import { signCheckpoint, parseCheckpoint, verifyCheckpoint, MerkleFrontier, leafHash } from '../../src/ledger/index.js'
import { haveSwtpm, startDevice, stopAllDevices } from '../helpers/devices.js'

describe('ledger/checkpoint signed by a TPM-held key', function () {
  this.timeout(60_000)
  let device: SwtpmDevice
  let tpm: EsysTpm

  before(async function () {
    if (!haveSwtpm()) this.skip()
    device = await startDevice()
    tpm = await EsysTpm.open({ tcti: device.tcti })
  })

  after(async () => {
    await tpm?.close()
    await stopAllDevices()
  })

  it('signs with the DSK in the TPM and ML-DSA-65; verifies with the public keys only', async () => {
    const dsk = await tpm.createKey('signing')
    const signer = new HybridSigner(tpmP256Signer(tpm, dsk), nodeMlDsa65.fromSeed(randomBytes(32)))
    let tree = new MerkleFrontier()
    for (let i = 0; i < 10; i++) tree = tree.append(leafHash(Buffer.from(`entry ${i}`)))
    const clock = await tpm.readClock()
    const feed = 'd'.repeat(52)
    const note = await signCheckpoint(
      {
        origin: `fleet/${'0'.repeat(64)}/${feed}`,
        size: tree.size,
        root: tree.root(),
        epoch: 1,
        tpm: { clock: clock.clock, resetCount: clock.resetCount, restartCount: clock.restartCount },
        peers: []
      },
      signer,
      feed
    )
    const verified = verifyCheckpoint(parseCheckpoint(note), { name: feed, key: signer.publicKey })
    assert.equal(verified.body.size, 10)
    // The same note does not verify for a key that is not this TPM's DSK.
    const impostor = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
    assert.throws(
      () =>
        verifyCheckpoint(parseCheckpoint(note), {
          name: feed,
          key: { p256: impostor.publicKey.p256, mldsa65: signer.publicKey.mldsa65 }
        }),
      { name: 'CheckpointSignatureError' }
    )
  })
})
