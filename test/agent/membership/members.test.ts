/**
 * Membership from the owner's feed, without sockets or TPMs: public areas are built from templates
 * with software points (only their attributes and shape matter here).
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import {
  attestationKeyTemplate,
  signingKeyTemplate,
  marshalPublic,
  TPMA_OBJECT,
  type EccPublic
} from '../../../src/attest/tpm2/index.js'
import {
  EXTERNAL_WITNESS_ACTIONS,
  Membership,
  type DeviceEnrolment,
  type EnrolmentRecord
} from '../../../src/agent/index.js'
import { formatOntologyActions, formatWitnessKey, type ActionSpec, type Entry } from '../../../src/ledger/index.js'
import { encodeCanonical } from '../../../src/codec/index.js'
import type { BootPolicy } from '../../../src/attest/index.js'

function withPoint(template: EccPublic): EccPublic {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
  return {
    ...template,
    x: new Uint8Array(Buffer.from(jwk.x!, 'base64url')),
    y: new Uint8Array(Buffer.from(jwk.y!, 'base64url'))
  }
}

const IMPORTED = TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin
const ak = (): Uint8Array => marshalPublic(withPoint(attestationKeyTemplate()))
const dsk = (): Uint8Array => marshalPublic(withPoint(signingKeyTemplate()))
/** What TPM2_Import gives: the same template, but not made in this TPM. */
const importedDsk = (): Uint8Array => {
  const t = withPoint(signingKeyTemplate())
  return marshalPublic({ ...t, objectAttributes: t.objectAttributes & ~IMPORTED })
}
const importedAk = (): Uint8Array => {
  const t = withPoint(attestationKeyTemplate())
  return marshalPublic({ ...t, objectAttributes: t.objectAttributes & ~TPMA_OBJECT.sensitiveDataOrigin })
}

const deviceId = (c: string): string => c.repeat(52)
const fleet = new Uint8Array(32).fill(7)

function membership(): Membership {
  const record = {
    v: 1,
    kind: 'enrolment',
    fleet,
    deviceId: deviceId('a'),
    ekPubHash: new Uint8Array(32),
    akPub: ak(),
    dskPub: dsk(),
    pqPub: new Uint8Array(1952),
    peerId: '12D3KooWself',
    role: 'server',
    policyId: '0'.repeat(64),
    hostname: 'self',
    issuedAt: 1
  } as unknown as EnrolmentRecord
  const enrolment = {
    fleetId: fleet,
    ownerKey: { p256: new Uint8Array(65), mldsa65: new Uint8Array(1952) },
    record,
    policy: {} as BootPolicy
  } as unknown as DeviceEnrolment
  return new Membership(enrolment)
}

function enrolEntry(id: string, akPub: Uint8Array, dskPub: Uint8Array): Entry {
  return {
    v: 1,
    fleet,
    feed: membership().ownerFeed,
    seq: 1,
    prev: new Uint8Array(32),
    time: 1,
    type: 'device.enrol',
    actor: { id: 'owner', role: 'owner' },
    device: id,
    attest: null,
    body: { deviceId: id, peerId: '12D3KooWother', akPub, dskPub, pqPub: new Uint8Array(1952) }
  } as unknown as Entry
}

describe("agent/membership: members from the owner's feed", () => {
  it('takes a device.enrol entry whose AK and DSK were made in a TPM', () => {
    const m = membership()
    m.applyOwnerEntry(enrolEntry(deviceId('b'), ak(), dsk()))
    assert.ok(m.member(deviceId('b')) !== undefined)
  })

  it("an enrol entry naming a DSK or AK made outside the TPM (tpm2_import) adds no member, even in the owner's feed", () => {
    const m = membership()
    m.applyOwnerEntry(enrolEntry(deviceId('c'), ak(), importedDsk()))
    m.applyOwnerEntry(enrolEntry(deviceId('d'), importedAk(), dsk()))
    assert.equal(m.member(deviceId('c')), undefined)
    assert.equal(m.member(deviceId('d')), undefined)
    assert.deepEqual(
      m.list().map((member) => member.deviceId),
      [deviceId('a')]
    )
  })
})

describe('agent/membership: external witnesses from the owner statements', () => {
  const witnessKey = formatWitnessKey('witness.test/w1', new Uint8Array(32).fill(3))
  const ownerEntry = (type: string, body: Record<string, unknown>, seq: number): Entry => ({
    v: 1,
    fleet,
    feed: membership().ownerFeed,
    seq,
    prev: new Uint8Array(32),
    time: 1_795_000_000_000 + seq,
    type,
    actor: { id: 'owner', role: 'owner' },
    device: membership().ownerFeed,
    attest: null,
    body
  })
  const update = (actions: Record<string, ActionSpec>, seq = 1): Entry =>
    ownerEntry('ontology.update', { version: 4, actions: encodeCanonical(formatOntologyActions(actions)) }, seq)
  const add = (seq: number, vkey = witnessKey): Entry =>
    ownerEntry('witness.external', { name: 'witness.test/w1', url: 'https://witness.test/w1', vkey }, seq)

  it('lists a witness once the owner defined the well-known actions, and drops it on witness.external_remove', () => {
    const m = membership()
    assert.equal(m.applyOwnerEntry(add(1)).externalWitness, undefined, 'not defined yet: ignored')
    assert.ok(m.applyOwnerEntry(update({ ...EXTERNAL_WITNESS_ACTIONS }, 2)).ontology)
    assert.deepEqual(m.applyOwnerEntry(add(3)).externalWitness, { name: 'witness.test/w1', change: 'added' })
    assert.deepEqual(
      m.externalWitnesses.list().map((w) => [w.name, w.url, w.vkey]),
      [['witness.test/w1', 'https://witness.test/w1', witnessKey]]
    )
    const removed = m.applyOwnerEntry(
      ownerEntry('witness.external_remove', { name: 'witness.test/w1', reason: 'x' }, 4)
    )
    assert.deepEqual(removed.externalWitness, { name: 'witness.test/w1', change: 'removed' })
    assert.deepEqual(m.externalWitnesses.list(), [])
  })

  it('ignores witness entries where the ontology in force defines the action otherwise', () => {
    const m = membership()
    const spec = EXTERNAL_WITNESS_ACTIONS['witness.external']!
    const otherwise = {
      ...spec,
      body: { ...spec.body, note: { kind: 'string', max: 64, optional: true } }
    } as ActionSpec
    m.applyOwnerEntry(update({ 'witness.external': otherwise }))
    assert.equal(m.applyOwnerEntry(add(2)).externalWitness, undefined)
    assert.deepEqual(m.externalWitnesses.list(), [])
  })

  it("ignores a witness whose verifier key is not its name's, or not an Ed25519 cosignature key", () => {
    const m = membership()
    m.applyOwnerEntry(update({ ...EXTERNAL_WITNESS_ACTIONS }))
    assert.equal(
      m.applyOwnerEntry(add(2, formatWitnessKey('witness.test/w2', new Uint8Array(32)))).externalWitness,
      undefined
    )
    assert.equal(m.applyOwnerEntry(add(3, 'witness.test/w1+00000000+AQ==')).externalWitness, undefined)
    assert.deepEqual(m.externalWitnesses.list(), [])
  })
})
