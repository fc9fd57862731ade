import assert from 'node:assert/strict'
import { encode } from 'cborg'
import {
  encodeEntry,
  decodeEntry,
  checkEntryAgainstOntology,
  applyVerifiedOntologyUpdate,
  BASE_ONTOLOGY,
  type Entry
} from '../../src/ledger/index.js'
import { decodeCanonical, encodeCanonical } from '../../src/codec/index.js'
import { EntryWriter, encodeEntryBytes } from '../../src/ledger/entry-encoder.js'

const entry: Entry = {
  v: 1,
  fleet: new Uint8Array(32).fill(0xf1),
  feed: 'a'.repeat(52),
  seq: 7,
  prev: new Uint8Array(32).fill(0xaa),
  time: 1795000000000,
  type: 'operator.data_access',
  actor: { id: 'alice', role: 'operator' },
  device: 'b'.repeat(52),
  attest: null,
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
const GOLDEN = [
  'ab617601637365710764626f6479a267707572706f73656463617265687265736f757263656b70617469656e74732f34',
  '326466656564783461616161616161616161616161616161616161616161616161616161616161616161616161616161',
  '61616161616161616161616164707265765820aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'aaaaaa6474696d651b000001a1ee565e006474797065746f70657261746f722e646174615f616363657373656163746f',
  '72a262696465616c69636564726f6c65686f70657261746f7265666c6565745820f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1',
  'f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f166617474657374f66664657669636578346262626262626262626262626262',
  '6262626262626262626262626262626262626262626262626262626262626262626262626262'
].join('')

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
    ['nesting deeper than allowed', hex(`${'81'.repeat(20)}01`)],
    ['an enormous claimed length', hex('5bffffffffffffffff')],
    ['an array claiming 2^32 items', hex('9affffffff')]
  ]
  for (const [name, bytes] of refusals) {
    it(`refuses ${name} with MalformedCborError`, () => {
      assert.throws(() => decodeCanonical(bytes), { name: 'MalformedCborError' })
    })
  }

  it('decodes strings that share length and first and last bytes to their own values (the decoder remembers short strings by their bytes)', () => {
    const texts = [
      `a${'x'.repeat(50)}z`,
      `a${'y'.repeat(50)}z`,
      `a${'x'.repeat(49)}yz`,
      `aé${'x'.repeat(48)}z`,
      `a${'x'.repeat(50)}z`
    ]
    for (let round = 0; round < 3; round++) {
      for (const text of texts)
        assert.deepEqual(decodeCanonical(encodeCanonical([text, { [text]: text }])), [text, { [text]: text }])
      for (const text of texts)
        assert.deepEqual(decodeCanonical(encodeCanonical({ [text]: [text] })), { [text]: [text] })
    }
    assert.throws(() => decodeCanonical(hex('62c328')), { name: 'MalformedCborError', message: /UTF-8/ })
    assert.throws(() => decodeCanonical(hex('62c328')), { name: 'MalformedCborError', message: /UTF-8/ })
    // A Buffer decoded and then written to must not change what the decoder remembers.
    const reused = Buffer.from(encodeCanonical(`q${'x'.repeat(40)}q`))
    assert.equal(decodeCanonical(reused), `q${'x'.repeat(40)}q`)
    reused.fill('y'.charCodeAt(0), 3, reused.length - 1)
    assert.equal(decodeCanonical(Buffer.from(encodeCanonical(`q${'y'.repeat(40)}q`))), `q${'y'.repeat(40)}q`)
    // Byte strings decoded from a Buffer are copies of their own.
    const source = Buffer.from(encodeCanonical([new Uint8Array([1, 2, 3])]))
    const [copy] = decodeCanonical(source) as [Uint8Array]
    source.fill(0)
    assert.deepEqual([...copy], [1, 2, 3])
  })

  it('decodes an entry to the same value whether its keys are read as the fixed envelope or not', () => {
    const bytes = encodeEntry(entry)
    const generic = decodeCanonical(bytes)
    assert.deepEqual(decodeEntry(bytes).entry, generic)
    assert.deepEqual(Object.keys(decodeEntry(bytes).entry).sort(), Object.keys(generic as object).sort())
  })

  it('refuses deep nesting without exhausting the stack (100k levels)', () => {
    assert.throws(() => decodeCanonical(new Uint8Array(65536).fill(0x81)), { name: 'MalformedCborError' })
  })

  it('refuses every truncation and every extra field or missing field of an entry', () => {
    const bytes = encodeEntry(entry)
    for (let length = 0; length < bytes.length; length++) {
      assert.throws(
        () => decodeEntry(bytes.subarray(0, length)),
        (err: Error) => err.name === 'MalformedCborError',
        `cut at ${length}`
      )
    }
    assert.throws(() => decodeEntry(encode({ ...entry, extra: 1 })), { name: 'MalformedEntryError' })
    const { attest: _attest, ...missing } = entry
    assert.throws(() => decodeEntry(encode(missing)), { name: 'MalformedEntryError' })
    assert.throws(() => decodeEntry(encode({ ...entry, v: 2 })), { name: 'MalformedEntryError' })
    assert.throws(() => decodeEntry(encode({ ...entry, prev: new Uint8Array(31) })), { name: 'MalformedEntryError' })
    assert.throws(() => decodeEntry(encode({ ...entry, feed: 'not a device id' })), { name: 'MalformedEntryError' })
  })
})

describe('ledger/entry-encoder: the direct envelope writer', () => {
  // A fixed-seed generator (mulberry32), so failures reproduce.
  const rng =
    (seed: number): (() => number) =>
    () => {
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
  const random = rng(0x5eed)
  const int = (n: number): number => Math.floor(random() * n)
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!
  const UINTS = [
    0,
    1,
    23,
    24,
    25,
    255,
    256,
    65535,
    65536,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 32 + 1,
    2 ** 53 - 1,
    1795000000000
  ]
  const uint = (): number => (random() < 0.7 ? pick(UINTS) : int(2 ** 31) * int(2 ** 22) + int(2 ** 20))
  const INT_VALUES = [...UINTS, ...UINTS.map((n) => -n - 1), ...UINTS.map((n) => -n)]
  // ASCII, 2-, 3- and 4-byte UTF-8, and lone surrogates (written as U+FFFD).
  const PIECES = [
    'a',
    'Z',
    '0',
    '~',
    '\u0000',
    '\u007f',
    'é',
    'ß',
    '\u07ff',
    '€',
    '中',
    '\uffff',
    '😀',
    '𝄞',
    '\ud800',
    '\udfff'
  ]
  const text = (length: number): string => {
    let out = ''
    const unicode = random() < 0.5
    while (out.length < length) out += unicode ? pick(PIECES) : String.fromCharCode(0x20 + int(0x5f))
    return out
  }
  // UTF-8 byte lengths around every length-head boundary.
  const LENGTHS = [0, 1, 22, 23, 24, 25, 254, 255, 256, 257, 1023, 1024, 1025, 65534, 65535, 65536, 65537, 70000]
  const sizedText = (): string => {
    const target = pick(LENGTHS)
    const out = 'x'.repeat(Math.max(0, target - 3))
    return out + 'é'.repeat(Math.min(target, 3) >> 1) + 'y'.repeat(Math.min(target, 3) & 1)
  }
  const bytes = (length: number): Uint8Array => Uint8Array.from({ length }, () => int(256))
  const KEYS = [
    'a',
    'b',
    'aa',
    'ab',
    'z',
    '1',
    '10',
    '2',
    'resource',
    'purpose',
    'records',
    'é',
    'ü',
    '中',
    '😀',
    'B',
    'A',
    '',
    'key with space'
  ]
  const value = (depth: number): unknown => {
    const kind = int(depth > 6 ? 7 : 10)
    switch (kind) {
      case 0:
        return text(int(40))
      case 1:
        return random() < 0.3 ? sizedText() : text(int(300))
      case 2:
        return pick(INT_VALUES)
      case 3:
        return random() < 0.5
      case 4:
        return null
      case 5:
        return bytes(pick([0, 1, 23, 24, 255, 256, 300]))
      case 6:
        return random() < 0.5 ? 1.5 : random() < 0.5 ? undefined : -0
      case 7:
        return Array.from({ length: int(5) }, () => value(depth + 1))
      case 8:
        return random() < 0.2
          ? new Map<unknown, unknown>([
              [1, 'one'],
              ['k', value(depth + 1)]
            ])
          : map(depth + 1)
      default:
        return map(depth + 1)
    }
  }
  // Keys stay well-formed: two keys with lone surrogates could encode to the same bytes.
  const wellFormed = (key: string): string =>
    key.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '?')
  const map = (depth: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {}
    for (let i = int(6); i > 0; i--) out[random() < 0.8 ? pick(KEYS) : wellFormed(text(int(12)))] = value(depth)
    return out
  }
  const deep = (levels: number): Record<string, unknown> =>
    levels === 0 ? { leaf: 1 } : { next: deep(levels - 1), n: levels }
  const entryAt = (i: number): Entry => {
    const actor =
      random() < 0.1
        ? { role: text(int(10)), id: text(1 + int(20)) }
        : { id: text(1 + int(30)), role: pick(['operator', 'agent', 'owner', text(int(30))]) }
    const body = i % 50 === 0 ? deep(10 + (i % 30)) : map(0)
    return {
      v: 1,
      fleet: bytes(32),
      feed: random() < 0.5 ? 'a'.repeat(52) : text(int(60)),
      seq: uint(),
      prev: bytes(32),
      time: uint(),
      type: random() < 0.8 ? pick(['operator.data_access', 'device.enrol', 'alert.tamper']) : text(int(70)),
      actor,
      device: random() < 0.5 ? 'b'.repeat(52) : text(int(60)),
      attest: random() < 0.5 ? null : bytes(32),
      body
    }
  }

  it('writes exactly encodeCanonical(entry) for 3,000 varied entries', () => {
    for (let i = 0; i < 3000; i++) {
      const sample = entryAt(i)
      const expected = Buffer.from(encodeCanonical(sample))
      const actual = Buffer.from(encodeEntryBytes(sample))
      if (!actual.equals(expected))
        assert.fail(`entry ${i}: ${actual.toString('hex').slice(0, 200)} ≠ ${expected.toString('hex').slice(0, 200)}`)
    }
  })

  it('writes every integer width and length head like the generic encoder', () => {
    for (const seq of UINTS) {
      for (const time of UINTS) {
        const sample = { ...entry, seq, time }
        assert.deepEqual(
          Buffer.from(encodeEntryBytes(sample)),
          Buffer.from(encodeCanonical(sample)),
          `seq ${seq}, time ${time}`
        )
      }
    }
    for (const target of LENGTHS) {
      for (const filler of ['x', 'é', '€', '😀']) {
        const long = filler.repeat(Math.ceil(target / Buffer.byteLength(filler)))
        const sample = {
          ...entry,
          type: long,
          actor: { id: long, role: long.slice(0, 40) },
          body: { resource: long, [long.slice(0, 30)]: [long, -1 - target, target] }
        }
        assert.deepEqual(
          Buffer.from(encodeEntryBytes(sample)),
          Buffer.from(encodeCanonical(sample)),
          `${target} × ${filler}`
        )
      }
    }
  })

  it('writes many entries into one buffer, each a view equal to its own encoding', () => {
    const writer = new EntryWriter(64)
    const spans: Array<[number, number, number, Entry]> = []
    for (let i = 0; i < 300; i++) {
      const sample = entryAt(i)
      const start = writer.pos
      writer.byte(0)
      writer.entry(sample)
      spans.push([start, writer.pos, writer.prevAt, sample])
    }
    for (const [start, end, prevAt, sample] of spans) {
      const view = Buffer.from(writer.subarray(start, end))
      assert.equal(view[0], 0)
      assert.ok(view.subarray(1).equals(Buffer.from(encodeCanonical(sample))))
      // prevAt locates the value of `prev`, which FeedLedger fills in after encoding.
      assert.ok(Buffer.from(writer.subarray(prevAt, prevAt + 32)).equals(Buffer.from(sample.prev)))
    }
  })

  it('falls back to the generic encoder for entries outside the envelope', () => {
    const odd: unknown[] = [
      { ...entry, extra: 1 },
      { ...entry, seq: -1 },
      { ...entry, time: 1.5 },
      { ...entry, actor: { id: 'a', role: 'b', more: 'c' } },
      {
        ...entry,
        actor: new Map([
          ['id', 'a'],
          ['role', 'b']
        ])
      },
      {
        ...entry,
        body: new Map([
          ['z', 1],
          ['a', 2]
        ])
      },
      { ...entry, attest: new Uint8Array(5) }
    ]
    for (const sample of odd)
      assert.deepEqual(Buffer.from(encodeEntryBytes(sample as Entry)), Buffer.from(encodeCanonical(sample)))
  })
})

describe('ledger/ontology', () => {
  it('accepts a typed action by an allowed role with an exact body', () => {
    checkEntryAgainstOntology(entry, BASE_ONTOLOGY)
  })

  it('refuses unknown actions, wrong roles, and bodies that do not match', () => {
    assert.throws(() => checkEntryAgainstOntology({ ...entry, type: 'operator.exfiltrate' }, BASE_ONTOLOGY), {
      name: 'UnknownActionError'
    })
    assert.throws(() => checkEntryAgainstOntology({ ...entry, type: 'toString.x' }, BASE_ONTOLOGY), {
      name: 'UnknownActionError'
    })
    assert.throws(
      () => checkEntryAgainstOntology({ ...entry, actor: { id: 'mallory', role: 'agent' } }, BASE_ONTOLOGY),
      { name: 'ActorRoleError' }
    )
    assert.throws(
      () =>
        checkEntryAgainstOntology(
          { ...entry, type: 'device.revoke', body: { deviceId: 'c'.repeat(52), reason: 'lost' } },
          BASE_ONTOLOGY
        ),
      { name: 'ActorRoleError' }
    )
    const bad: Array<Record<string, unknown>> = [
      { resource: 'r' },
      { resource: 'r', purpose: 'p', smuggled: 'x' },
      { resource: 42, purpose: 'p' },
      { resource: 'r'.repeat(300), purpose: 'p' },
      { resource: 'r', purpose: 'p', records: -1 }
    ]
    for (const body of bad)
      assert.throws(
        () => checkEntryAgainstOntology({ ...entry, body }, BASE_ONTOLOGY),
        { name: 'BodySchemaError' },
        JSON.stringify(body)
      )
    checkEntryAgainstOntology({ ...entry, body: { resource: 'r', purpose: 'p', records: 3 } }, BASE_ONTOLOGY)
  })

  it('an owner update adds actions in the next version only, and never redefines one', () => {
    // The built-in ontology is version 3; the owner's first update is version 4.
    assert.equal(BASE_ONTOLOGY.version, 3)
    const next = applyVerifiedOntologyUpdate(BASE_ONTOLOGY, 4, {
      'operator.export': { roles: ['operator'], body: { target: { kind: 'string', max: 64 } } }
    })
    assert.equal(next.version, 4)
    checkEntryAgainstOntology({ ...entry, type: 'operator.export', body: { target: 'backup' } }, next)
    assert.throws(
      () => checkEntryAgainstOntology({ ...entry, type: 'operator.export', body: { target: 'backup' } }, BASE_ONTOLOGY),
      { name: 'UnknownActionError' }
    )
    assert.throws(() => applyVerifiedOntologyUpdate(BASE_ONTOLOGY, 5, {}), { name: 'BodySchemaError' })
    assert.throws(
      () => applyVerifiedOntologyUpdate(BASE_ONTOLOGY, 4, { 'device.revoke': { roles: ['operator'], body: {} } }),
      { name: 'BodySchemaError' }
    )
  })
})
