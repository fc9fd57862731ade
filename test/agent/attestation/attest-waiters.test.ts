import assert from 'node:assert/strict'
import { AttestWaiters } from '../../../src/agent/attestation/attest-waiters.js'
import { ATTEST_LIMITS } from '../../../src/agent/attestation/limits.js'

/** A hub's reservation requests waiting for the asker's attestation: answered, and bounded. */
describe('agent/attestation: requests waiting for a peer to be attested', () => {
  const attested = new Set<string>()
  const refused = new Set<string>()
  const probe = { attested: (p: string) => attested.has(p), refused: (p: string) => refused.has(p) }

  it('true once the peer is attested, false once it is refused, false at its time', async () => {
    const waiters = new AttestWaiters(probe)
    const good = waiters.wait('good', 60_000)
    const bad = waiters.wait('bad', 60_000)
    const slow = waiters.wait('slow', 20)
    attested.add('good')
    refused.add('bad')
    waiters.changed()
    assert.deepEqual(await Promise.all([good, bad, slow]), [true, false, false])
    assert.equal(await waiters.wait('good', 60_000), true, 'attested already: at once')
    assert.equal(await waiters.wait('bad', 60_000), false, 'refused already: at once')
  })

  it('a few requests per peer and a cap in all: past them, false at once; stop answers every one false', async () => {
    const waiters = new AttestWaiters(probe)
    const flood = Array.from({ length: ATTEST_LIMITS.maxAttestWaitersPerPeer }, () => waiters.wait('flooder', 60_000))
    assert.equal(await waiters.wait('flooder', 60_000), false, 'one more of the same peer')
    const others = Array.from({ length: ATTEST_LIMITS.maxAttestWaiters - flood.length }, (_, i) =>
      waiters.wait(`peer${i}`, 60_000)
    )
    assert.equal(await waiters.wait('honest', 60_000), false, 'one more in all')
    waiters.stop()
    assert.ok((await Promise.all([...flood, ...others])).every((answer) => answer === false))
    assert.equal(await waiters.wait('later', 60_000), false, 'after stop')
  })
})
