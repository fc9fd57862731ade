import assert from 'node:assert/strict'
import { encode } from 'cborg'
import {
  encodeEntry, decodeEntry, decodeCanonical, checkEntryAgainstOntology, applyVerifiedOntologyUpdate, BASE_ONTOLOGY, type Entry
} from '../../src/ledger/index.js'

const entry: Entry = {
  v: 1, fleet: new Uint8Array(32).fill(0xf1), feed: 'a'.repeat(52), seq: 7, prev: new Uint8Array(32).fill(0xaa), time: 1795000000000,
  type: 'operator.data_access', actor: { id: 'alice', role: 'operator' }, device: 'b'.repeat(52), attest: null,
  body: { resource: 'patients/42', purpose: 'care' }
}

/**
 * Golden bytes: the v1 entry format is frozen. Canonical CBOR sorts map keys by length, then
 * bytewise:
 *   ab                      map(11)
 *     61 76  01             "v": 1
 *     63 736571  07         "seq": 7
 *     64 626f6479  a2       "body": map(2)
 *       67 707572706f7365  64 63617265                    "purpose": "care"
 *       68 7265736f75726365  6b 70617469656e74732f3432    "resource": "patients/42"
 *     64 66656564  78 34 61…61                           "feed": text(52)
 *     64 70726576  58 20 aa…aa                           "prev": bytes(32)
 *     64 74696d65  1b 000001a1ee565e00                   "time": 1795000000000
 *     64 74797065  74 6f70657261746f722e646174615f616363657373   "type": "operator.data_access"
 *     65 6163746f72  a2 62 6964 65 616c696365 64 726f6c65 68 6f70657261746f72   "actor": {id, role}
 *     65 666c656574  58 20 f1…f1                         "fleet": bytes(32)
 *     66 617474657374  f6                                "attest": null
 *     66 646576696365  78 34 62…62                       "device": text(52)
 */
const GOLDEN = 'ab617601637365710764626f6479a267707572706f73656463617265687265736f757263656b70617469656e74732f3432646665656478346161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616164707265765820aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa6474696d651b000001a1ee565e006474797065746f70657261746f722e646174615f616363657373656163746f72a262696465616c69636564726f6c65686f70657261746f7265666c6565745820f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f166617474657374f666646576696365783462626262626262626262626262626262626262626262626262626262626262626262626262626262626262626262626262626262'

describe('ledger/entry: deterministic CBOR, strict decoding', () => {
  it('encodes to the golden bytes, and decodes back', () => {
    const bytes = encodeEntry(entry)
    assert.equal(Buffer.from(bytes).toString('hex'), GOLDEN)
    const decoded = decodeEntry(new Uint8Array(Buffer.from(GOLDEN, 'hex')))
    assert.deepEqual(decoded.entry, entry)
    assert.equal(decoded.hash.length, 32)
  })

  const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'))
  const refusals: Array<[string, Uint8Array]> = [
    ['a duplicate key', hex('a2617601617601')],
    ['an indefinite-length map', hex('bf617601ff')],
    ['an indefinite-length string', hex('7f61616161ff')],
    ['a non-shortest integer', hex('a161761801')],
    ['keys out of canonical order', hex('a2637365710761760a')],
    ['a float', hex('a16176fb3ff0000000000000')],
    ['a tag', hex('a16176c11a5f5e1000')],
    ['undefined', hex('a16176f7')],
    ['trailing bytes', hex('a1617601ff')],
    ['a truncated string', hex('a161766261')],
    ['nesting deeper than allowed', hex('81'.repeat(20) + '01')],
    ['an enormous claimed length', hex('5bffffffffffffffff')],
    ['an array claiming 2^32 items', hex('9affffffff')]
  ]
  for (const [name, bytes] of refusals) {
    it(`refuses ${name} with MalformedCborError`, () => {
      assert.throws(() => decodeCanonical(bytes), { name: 'MalformedCborError' })
    })
  }

  it('refuses deep nesting without exhausting the stack (100k levels)', () => {
    assert.throws(() => decodeCanonical(new Uint8Array(65536).fill(0x81)), { name: 'MalformedCborError' })
  })

  it('refuses every truncation and every extra field or missing field of an entry', () => {
    const bytes = encodeEntry(entry)
    for (let length = 0; length < bytes.length; length++) {
      assert.throws(() => decodeEntry(bytes.subarray(0, length)), (err: Error) => err.name === 'MalformedCborError', `cut at ${length}`)
    }
    assert.throws(() => decodeEntry(encode({ ...entry, extra: 1 })), { name: 'MalformedEntryError' })
    const { attest: _attest, ...missing } = entry
    assert.throws(() => decodeEntry(encode(missing)), { name: 'MalformedEntryError' })
    assert.throws(() => decodeEntry(encode({ ...entry, v: 2 })), { name: 'MalformedEntryError' })
    assert.throws(() => decodeEntry(encode({ ...entry, prev: new Uint8Array(31) })), { name: 'MalformedEntryError' })
    assert.throws(() => decodeEntry(encode({ ...entry, feed: 'not a device id' })), { name: 'MalformedEntryError' })
  })
})

describe('ledger/ontology', () => {
  it('accepts a typed action by an allowed role with an exact body', () => {
    checkEntryAgainstOntology(entry, BASE_ONTOLOGY)
  })

  it('refuses unknown actions, wrong roles, and bodies that do not match', () => {
    assert.throws(() => checkEntryAgainstOntology({ ...entry, type: 'operator.exfiltrate' }, BASE_ONTOLOGY), { name: 'UnknownActionError' })
    assert.throws(() => checkEntryAgainstOntology({ ...entry, type: 'toString.x' }, BASE_ONTOLOGY), { name: 'UnknownActionError' })
    assert.throws(() => checkEntryAgainstOntology({ ...entry, actor: { id: 'mallory', role: 'agent' } }, BASE_ONTOLOGY), { name: 'ActorRoleError' })
    assert.throws(() => checkEntryAgainstOntology({ ...entry, type: 'device.revoke', body: { deviceId: 'c'.repeat(52), reason: 'lost' } }, BASE_ONTOLOGY), { name: 'ActorRoleError' })
    const bad: Array<Record<string, unknown>> = [
      { resource: 'r' },
      { resource: 'r', purpose: 'p', smuggled: 'x' },
      { resource: 42, purpose: 'p' },
      { resource: 'r'.repeat(300), purpose: 'p' },
      { resource: 'r', purpose: 'p', records: -1 }
    ]
    for (const body of bad) assert.throws(() => checkEntryAgainstOntology({ ...entry, body }, BASE_ONTOLOGY), { name: 'BodySchemaError' }, JSON.stringify(body))
    checkEntryAgainstOntology({ ...entry, body: { resource: 'r', purpose: 'p', records: 3 } }, BASE_ONTOLOGY)
  })

  it('an owner update adds actions in the next version only, and never redefines one', () => {
    const next = applyVerifiedOntologyUpdate(BASE_ONTOLOGY, 2, { 'operator.export': { roles: ['operator'], body: { target: { kind: 'string', max: 64 } } } })
    assert.equal(next.version, 2)
    checkEntryAgainstOntology({ ...entry, type: 'operator.export', body: { target: 'backup' } }, next)
    assert.throws(() => checkEntryAgainstOntology({ ...entry, type: 'operator.export', body: { target: 'backup' } }, BASE_ONTOLOGY), { name: 'UnknownActionError' })
    assert.throws(() => applyVerifiedOntologyUpdate(BASE_ONTOLOGY, 3, {}), { name: 'BodySchemaError' })
    assert.throws(() => applyVerifiedOntologyUpdate(BASE_ONTOLOGY, 2, { 'device.revoke': { roles: ['operator'], body: {} } }), { name: 'BodySchemaError' })
  })
})
