/** The actor list as the owner's feed states it: actor.enrol and actor.revoke replayed in order, no I/O. */
import assert from 'node:assert/strict'
import { actorRoster, currentHolder } from '../../src/cli/actor-roster.js'
import type { Entry } from '../../src/ledger/index.js'

const point = (byte: number): Uint8Array => Uint8Array.of(0x04, ...new Array<number>(64).fill(byte))

let seq = 0
function entry(type: string, body: Record<string, unknown>): Entry {
  seq += 1
  return {
    v: 1,
    fleet: new Uint8Array(32),
    feed: 'owner',
    seq,
    prev: new Uint8Array(32),
    time: 1_000 * seq,
    type,
    actor: { id: 'owner/clinic', role: 'owner' },
    device: 'owner',
    attest: null,
    body
  }
}
const enrol = (actorId: string, key: Uint8Array, extra: Record<string, unknown> = {}): Entry =>
  entry('actor.enrol', { actorId, role: 'operator', kind: 'pkcs11', publicKey: key, hardware: 'a token', ...extra })
const revoke = (actorId: string, reason: string): Entry => entry('actor.revoke', { actorId, reason })

describe('cli: the actor roster (owner feed replay)', () => {
  it('a later enrolment replaces the key and ends a revocation; a revocation records when and why', () => {
    const feed = [
      enrol('alice', point(1)),
      entry('policy.set', { policyId: 'p' }),
      enrol('bob', point(2)),
      enrol('alice', point(3)),
      revoke('bob', 'card lost')
    ]
    const [alice, bob] = actorRoster(feed)
    assert.deepEqual(
      [alice?.actorId, alice?.publicKey, alice?.enrolments, alice?.revoked],
      ['alice', point(3), 2, undefined]
    )
    assert.equal(alice?.enrolledAt, feed[3]!.time)
    assert.deepEqual(bob?.revoked, { reason: 'card lost', at: feed[4]!.time, seq: feed[4]!.seq })
    const again = actorRoster([...feed, enrol('bob', point(4))])[1]!
    assert.deepEqual([again.revoked, again.publicKey, again.enrolments], [undefined, point(4), 2])
  })

  it('passes over what the agents pass over: a revocation of no one, an enrolment no proof could match', () => {
    const roster = actorRoster([
      revoke('carol', 'never was'),
      enrol('dave', new Uint8Array(33)),
      enrol('erin', point(5), { kind: 'webauthn' }),
      enrol('alice', point(1)),
      enrol('alice', Uint8Array.of(2, 1))
    ])
    assert.deepEqual(
      roster.map((actor) => [actor.actorId, actor.publicKey]),
      [['alice', point(1)]]
    )
  })

  it('finds who holds a key now: a token key by its point, a credential by its id, never a revoked actor', () => {
    const credentialId = Uint8Array.of(9, 9, 9)
    const roster = actorRoster([
      enrol('alice', point(1)),
      enrol('frank', point(7), { kind: 'webauthn', credentialId, rpId: 'localhost' }),
      enrol('bob', point(2)),
      revoke('bob', 'left')
    ])
    assert.equal(currentHolder(roster, { kind: 'pkcs11', publicKey: point(1) })?.actorId, 'alice')
    assert.equal(currentHolder(roster, { kind: 'pkcs11', publicKey: point(2) }), undefined)
    assert.equal(currentHolder(roster, { kind: 'webauthn', publicKey: point(0), credentialId })?.actorId, 'frank')
    assert.equal(currentHolder(roster, { kind: 'pkcs11', publicKey: point(7) }), undefined)
  })
})
