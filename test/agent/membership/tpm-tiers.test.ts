/** The owner's device.tpm statements: taken only under the well-known spec, bounded, software by default. */
import assert from 'node:assert/strict'
import { TPM_TIER_ACTIONS, TpmTiers } from '../../../src/agent/index.js'
import {
  BASE_ONTOLOGY,
  checkEntryAgainstOntology,
  ownerFeedId,
  type Entry,
  type Ontology
} from '../../../src/ledger/index.js'

const DEVICE = 'a'.repeat(52)
const withActions = (actions: Ontology['actions']): Ontology => ({
  version: BASE_ONTOLOGY.version + 1,
  actions: { ...BASE_ONTOLOGY.actions, ...actions }
})
const statement = (body: Record<string, unknown>): Entry =>
  ({ type: 'device.tpm', body, actor: { id: 'owner/x', role: 'owner' } }) as unknown as Entry

describe('agent/membership: TPM tiers', () => {
  it('takes device.tpm where the ontology defines it as the well-known spec; the latest statement wins', () => {
    const tiers = new TpmTiers()
    assert.equal(tiers.tierOf(DEVICE), 'software')
    const ontology = withActions(TPM_TIER_ACTIONS)
    const ekCa = new Uint8Array(32)
    assert.deepEqual(tiers.apply(statement({ deviceId: DEVICE, tier: 'hardware', ekCa }), ontology), {
      deviceId: DEVICE,
      tier: 'hardware'
    })
    assert.equal(tiers.tierOf(DEVICE), 'hardware')
    tiers.apply(statement({ deviceId: DEVICE, tier: 'software', ekCa }), ontology)
    assert.equal(tiers.tierOf(DEVICE), 'software')
  })

  it('ignores it without the definition, or under a definition of another meaning', () => {
    const tiers = new TpmTiers()
    const hardware = statement({ deviceId: DEVICE, tier: 'hardware', ekCa: new Uint8Array(32) })
    assert.equal(tiers.apply(hardware, BASE_ONTOLOGY), undefined)
    const otherwise = withActions({
      'device.tpm': {
        roles: ['owner'],
        body: { deviceId: { kind: 'string', max: 52 }, tier: { kind: 'string', max: 8 } }
      }
    })
    assert.equal(tiers.apply(hardware, otherwise), undefined)
    assert.equal(tiers.tierOf(DEVICE), 'software')
  })

  it('a device cannot vouch for its own TPM: device.tpm in a device feed, or by an agent, is refused by the ontology', () => {
    const ontology = withActions(TPM_TIER_ACTIONS)
    const fleet = new Uint8Array(32).fill(1)
    const claim = (actor: { id: string; role: 'owner' | 'agent' }, feed: string): Entry =>
      ({
        v: 1,
        fleet,
        feed,
        seq: 0,
        prev: new Uint8Array(32),
        time: 5,
        type: 'device.tpm',
        actor,
        device: DEVICE,
        attest: null,
        body: { deviceId: DEVICE, tier: 'hardware', ekCa: new Uint8Array(32) }
      }) as Entry
    assert.throws(() => checkEntryAgainstOntology(claim({ id: 'owner/x', role: 'owner' }, DEVICE), ontology), {
      name: 'FeedRoleError'
    })
    assert.throws(() => checkEntryAgainstOntology(claim({ id: `agent/${DEVICE}`, role: 'agent' }, DEVICE), ontology))
    // In the owner's feed it is the owner's statement.
    checkEntryAgainstOntology(claim({ id: 'owner/x', role: 'owner' }, ownerFeedId(fleet)), ontology)
  })
})
