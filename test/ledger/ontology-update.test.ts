import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { decodeCanonical, encodeCanonical, type Field } from '../../src/codec/index.js'
import {
  applyOntologyUpdateEntry,
  BASE_ONTOLOGY,
  checkEntryAgainstOntology,
  formatOntologyActions,
  parseOntologyActions,
  ROLES,
  type ActionSpec,
  type Entry
} from '../../src/ledger/index.js'

/** An update stating one action of every field kind (and optional given as false). */
const UPDATE = {
  'operator.export': {
    roles: ['operator', 'auditor'],
    body: {
      target: { kind: 'string', max: 64, pattern: '^[a-z]+$', oneOf: ['backup', 'archive'], optional: false },
      digest: { kind: 'bytes', size: 32, max: 32 },
      count: { kind: 'uint', max: 1000, optional: true },
      done: { kind: 'bool' },
      notes: { kind: 'strings', maxItems: 4, maxLength: 16, optional: true }
    }
  },
  'operator.wipe': { roles: ['owner'], body: {} }
}

/**
 * Golden bytes: UPDATE's actions as `fleet ontology publish` puts them in an ontology.update body
 * (made by the version before the codec module, which encoded the parsed actions as they came).
 */
const PUBLISHED = [
  'a26d6f70657261746f722e77697065a264626f6479a065726f6c657381656f776e65726f6f70657261746f722e6578706f72',
  '74a264626f6479a564646f6e65a1646b696e6464626f6f6c65636f756e74a3636d61781903e8646b696e646475696e74686f',
  '7074696f6e616cf5656e6f746573a4646b696e6467737472696e6773686d61784974656d7304686f7074696f6e616cf5696d',
  '61784c656e6774681066646967657374a3636d61781820646b696e646562797465736473697a65182066746172676574a563',
  '6d61781840646b696e6466737472696e67656f6e654f6682666261636b75706761726368697665677061747465726e685e5b',
  '612d7a5d2b24686f7074696f6e616cf465726f6c657382686f70657261746f726761756469746f72'
].join('')

/**
 * SHA-256 of the canonical CBOR of {version, actions} that `fleet ontology show --json` printed for
 * built-in version 2 (the same before the codec module).
 */
const BASE_SHOWN = '2c2a1b477978342c371706addf4ed37ac1dbd27ff7e2181174c5cf91d9643bae'

const entryOf = (type: string, body: Record<string, unknown>): Entry => ({
  v: 1,
  fleet: new Uint8Array(32).fill(1),
  feed: 'a'.repeat(52),
  seq: 1,
  prev: new Uint8Array(32),
  time: 5,
  type,
  actor: { id: 'alice', role: 'operator' },
  device: 'a'.repeat(52),
  attest: null,
  body
})

describe('ledger/ontology-update: the frozen format of an ontology update, in the codec schema language', () => {
  it('states parsed actions back byte for byte as published before, and shows the built-in ontology unchanged', () => {
    const parsed = parseOntologyActions(UPDATE)
    assert.deepEqual(parsed['operator.export']!.body.notes, {
      kind: 'list',
      maxItems: 4,
      item: { kind: 'string', max: 16 },
      optional: true
    })
    assert.deepEqual(formatOntologyActions(parsed), UPDATE)
    assert.equal(Buffer.from(encodeCanonical(formatOntologyActions(parsed))).toString('hex'), PUBLISHED)
    assert.deepEqual(parseOntologyActions(decodeCanonical(Buffer.from(PUBLISHED, 'hex'))), parsed)
    // Version 3 only adds actions: without them, version 2 shows the same bytes as it always did.
    const version3 = [
      'actor.enrol',
      'actor.revoke',
      'alert.cloned_authenticator',
      'workload.allow',
      'workload.revoke',
      'workload.start',
      'workload.stop',
      'service.model_inference'
    ]
    assert.ok(version3.every((name) => Object.hasOwn(BASE_ONTOLOGY.actions, name)))
    const version2 = Object.fromEntries(
      Object.entries(BASE_ONTOLOGY.actions).filter(([name]) => !version3.includes(name))
    )
    const shown = { version: 2, actions: formatOntologyActions(version2) }
    assert.equal(createHash('sha256').update(encodeCanonical(shown)).digest('hex'), BASE_SHOWN)
    assert.deepEqual(shown.actions['attest.verdict']!.body.reasons, { kind: 'strings', maxItems: 32, maxLength: 512 })
  })

  it('applies an update whose fields then hold entries to their kinds and bounds', () => {
    const update = entryOf('ontology.update', { version: 4, actions: Buffer.from(PUBLISHED, 'hex') })
    const next = applyOntologyUpdateEntry(BASE_ONTOLOGY, update)
    const body = { target: 'backup', digest: new Uint8Array(32), done: true, notes: ['a', 'b'] }
    checkEntryAgainstOntology(entryOf('operator.export', body), next)
    const bads = [
      { ...body, notes: ['x'.repeat(17)] },
      { ...body, notes: [1] },
      { ...body, notes: new Array(5).fill('a') },
      { ...body, target: 'other' }
    ]
    for (const bad of bads) {
      assert.throws(
        () => checkEntryAgainstOntology(entryOf('operator.export', bad), next),
        { name: 'BodySchemaError' },
        JSON.stringify(bad)
      )
    }
    assert.throws(
      () => checkEntryAgainstOntology(entryOf('operator.export', { ...body, notes: ['a', 'b', 'c', 'd', 'e'] }), next),
      { name: 'BodySchemaError', path: 'body.notes' }
    )
  })

  it('refuses a field the format cannot state', () => {
    const action = (f: Field): Record<string, ActionSpec> => ({ 'operator.x': { roles: ['operator'], body: { f } } })
    const nested = action({ kind: 'record', fields: {} })
    assert.throws(() => formatOntologyActions(nested), { name: 'BodySchemaError', path: 'actions.operator.x.body.f' })
    const nullable = action({ kind: 'bytes', max: 3, nullable: true })
    assert.throws(() => formatOntologyActions(nullable), { name: 'BodySchemaError' })
  })

  const field = (f: Record<string, unknown>): Record<string, unknown> => ({
    'operator.x': { roles: ['operator'], body: { f } }
  })
  const choices = (count: number): string[] => many(count, String)
  const noFields = { roles: ['operator'], body: {} }
  const fields = (count: number): Record<string, unknown> =>
    Object.fromEntries(many(count, (i) => [`f${i}`, { kind: 'bool' }]))
  const many = <T>(count: number, item: (i: number) => T): T[] => Array.from({ length: count }, (_, i) => item(i))
  const refusedUpdates: Array<[string, unknown]> = [
    ['not a map', []],
    ['no actions', {}],
    ['too many actions', Object.fromEntries(many(65, (i) => [`operator.a${'b'.repeat(i)}`, noFields]))],
    ['an action with more than roles and body', { 'operator.x': { roles: ['operator'], body: {}, note: 'x' } }],
    ['an action without a body', { 'operator.x': { roles: ['operator'] } }],
    ['no roles', { 'operator.x': { roles: [], body: {} } }],
    ['an unknown role', { 'operator.x': { roles: ['root'], body: {} } }],
    ['more roles than there are', { 'operator.x': { roles: [...ROLES, 'owner'], body: {} } }],
    ['a body that is a list', { 'operator.x': { roles: ['operator'], body: [] } }],
    ['33 fields', { 'operator.x': { roles: ['operator'], body: fields(33) } }],
    ['a field name that is not one', { 'operator.x': { roles: ['operator'], body: { '1f': { kind: 'bool' } } } }],
    ['a field with no kind', field({ max: 3 })],
    ['an unknown kind', field({ kind: 'float' })],
    ['a kind that is an Object property', field({ kind: 'toString' })],
    ['a property of another kind', field({ kind: 'uint', maxLength: 3 })],
    ['optional not a boolean', field({ kind: 'bool', optional: 1 })],
    ['a string without max', field({ kind: 'string' })],
    ['a string max past the cap', field({ kind: 'string', max: 32 * 1024 + 1 })],
    ['bytes of a size above max', field({ kind: 'bytes', max: 4, size: 5 })],
    ['a uint max that is not an integer', field({ kind: 'uint', max: 1.5 })],
    ['a pattern that does not compile', field({ kind: 'string', max: 4, pattern: '(' })],
    ['a pattern too long', field({ kind: 'string', max: 4, pattern: 'a'.repeat(257) })],
    ['a choice longer than max', field({ kind: 'string', max: 2, oneOf: ['abc'] })],
    ['choices that are not strings', field({ kind: 'string', max: 2, oneOf: [1] })],
    ['65 choices', field({ kind: 'string', max: 4, oneOf: choices(65) })],
    ['strings without maxLength', field({ kind: 'strings', maxItems: 3 })],
    ['strings of more than 1024 items', field({ kind: 'strings', maxItems: 1025, maxLength: 3 })]
  ]
  const acceptedUpdates: Array<[string, unknown]> = [
    ['an empty body', { 'operator.x': { roles: ['operator'], body: {} } }],
    ['repeated roles', { 'operator.x': { roles: ['owner', 'owner'], body: {} } }],
    ['a string at its bounds', field({ kind: 'string', max: 32 * 1024, pattern: 'a'.repeat(256), oneOf: choices(64) })],
    ['bytes of size max', field({ kind: 'bytes', max: 4, size: 4, optional: true })],
    ['a uint without max', field({ kind: 'uint' })],
    ['strings at their caps', field({ kind: 'strings', maxItems: 1024, maxLength: 32 * 1024, optional: false })]
  ]

  for (const [name, actions] of refusedUpdates) {
    it(`refuses an update with ${name}`, () => {
      assert.throws(() => parseOntologyActions(actions), { name: 'BodySchemaError' })
    })
  }
  it('accepts updates at the bounds of the format', () => {
    for (const [name, actions] of acceptedUpdates) assert.doesNotThrow(() => parseOntologyActions(actions), name)
  })
})
