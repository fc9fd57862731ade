import assert from 'node:assert/strict'
import { relayGate, type RelayAttestation } from '../../../src/agent/index.js'

/** The relay gate's answers, each refusal with the peer that asks for it (the swtpm tests run the real relay). */
describe('agent/hubs: the relay gate', () => {
  const attested = new Set(['hub', 'a', 'b', 'server'])
  const roles = new Map([
    ['hub', 'hub'],
    ['a', 'server'],
    ['b', 'workstation'],
    ['server', 'server']
  ])
  const attestation: RelayAttestation = {
    attested: (p) => attested.has(p),
    roleOf: (p) => roles.get(p),
    whenAttested: async (p) => attested.has(p)
  }

  it('reserves and carries only for attested peers, takes links only from an attested hub, and counts', async () => {
    const { gate, counts } = relayGate(() => attestation, 1_000)
    assert.equal(await gate.mayReserve('a'), true)
    assert.equal(await gate.mayReserve('stranger'), false)
    assert.equal(gate.mayRelay('a', 'b'), true)
    assert.equal(gate.mayRelay('stranger', 'b'), false)
    assert.equal(gate.mayRelay('a', 'stranger'), false)
    assert.equal(gate.relayTrusted('hub'), true)
    // An attested member that is not enrolled as a hub is no relay to take links from.
    assert.equal(gate.relayTrusted('server'), false)
    assert.equal(gate.relayTrusted('stranger'), false)
    assert.deepEqual(counts, { reservationsGranted: 1, reservationsRefused: 1, linksCarried: 1, linksRefused: 2 })
  })

  it('before the attestation service exists, everything is refused', async () => {
    const { gate } = relayGate(() => undefined, 1_000)
    assert.equal(await gate.mayReserve('a'), false)
    assert.equal(gate.mayRelay('a', 'b'), false)
    assert.equal(gate.relayTrusted('hub'), false)
  })
})
