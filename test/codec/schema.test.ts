import assert from 'node:assert/strict'
import {
  checkField,
  checkRecord,
  decodeRecord,
  encodeCanonical,
  FieldBoundError,
  FieldFormError,
  FieldTypeError,
  MissingFieldError,
  SchemaError,
  UnknownFieldError,
  type Field,
  type Schema
} from '../../src/codec/index.js'

const HASH = { kind: 'bytes', size: 32, max: 32 } as const
const PERSON = {
  name: { kind: 'string', max: 8, pattern: '^[a-z]+$' },
  role: { kind: 'string', max: 16, oneOf: ['owner', 'agent'] },
  key: HASH,
  cert: { kind: 'bytes', max: 4, nullable: true },
  age: { kind: 'uint', min: 1, max: 150 },
  admin: { kind: 'bool', optional: true },
  tags: { kind: 'list', maxItems: 3, minItems: 1, unique: true, item: { kind: 'string', max: 4 } },
  home: {
    kind: 'record',
    fields: {
      street: { kind: 'string', max: 32 },
      doors: { kind: 'list', maxItems: 4, item: { kind: 'uint', max: 9 } }
    }
  },
  notes: { kind: 'map', maxEntries: 2, keyPattern: '^n[0-9]$', value: { kind: 'bytes', max: 2 }, optional: true }
} as const satisfies Schema

const person = (): Record<string, unknown> => ({
  name: 'ada',
  role: 'owner',
  key: new Uint8Array(32),
  cert: null,
  age: 36,
  tags: ['math', 'code'],
  home: { street: 'st james', doors: [1, 2] },
  notes: { n1: new Uint8Array(2) }
})

/** Asserts that `change` applied to a valid person is refused with `kind`, at `path`, carrying `evidence`. */
type Change = (p: Record<string, unknown>) => void
type Refusal = new (...args: never[]) => SchemaError

function refuses(change: Change, kind: Refusal, path: string, evidence: Record<string, unknown> = {}): void {
  const value = person()
  change(value)
  assert.throws(
    () => checkRecord(value, PERSON, 'person'),
    (err: Error) => {
      assert.ok(err instanceof kind, `${err.name}: ${err.message}`)
      assert.equal(err.name, kind.name)
      assert.equal((err as SchemaError).path, path)
      assert.equal((err as SchemaError).exitCode, 2)
      const fields = err as unknown as Record<string, unknown>
      for (const [key, expected] of Object.entries(evidence)) assert.deepEqual(fields[key], expected, key)
      return true
    }
  )
}

describe('codec/schema: one schema language for records', () => {
  it('accepts a record that matches exactly, returning the same object, typed', () => {
    const value = person()
    const checked = checkRecord(value, PERSON)
    assert.equal(checked, value)
    const age: number = checked.age
    const cert: Uint8Array | null = checked.cert
    const doors: number[] = checked.home.doors
    assert.equal(age + doors.length, 38)
    assert.equal(cert, null)
    delete value.notes
    checkRecord(value, PERSON)
  })

  it('refuses a value of the wrong type, naming its path and what was expected', () => {
    refuses(
      (p) => {
        p.name = 7
      },
      FieldTypeError,
      'person.name',
      { expected: 'a string' }
    )
    refuses(
      (p) => {
        p.key = 'ab'.repeat(16)
      },
      FieldTypeError,
      'person.key',
      { expected: 'bytes' }
    )
    refuses(
      (p) => {
        p.cert = 'x'
      },
      FieldTypeError,
      'person.cert',
      { expected: 'bytes or null' }
    )
    refuses(
      (p) => {
        p.age = 36.5
      },
      FieldTypeError,
      'person.age',
      { expected: 'a non-negative integer' }
    )
    refuses(
      (p) => {
        p.age = -1
      },
      FieldTypeError,
      'person.age'
    )
    refuses(
      (p) => {
        p.age = 2 ** 53
      },
      FieldTypeError,
      'person.age'
    )
    refuses(
      (p) => {
        p.age = '36'
      },
      FieldTypeError,
      'person.age'
    )
    refuses(
      (p) => {
        p.admin = 1
      },
      FieldTypeError,
      'person.admin',
      { expected: 'true or false' }
    )
    refuses(
      (p) => {
        p.tags = 'math'
      },
      FieldTypeError,
      'person.tags',
      { expected: 'a list' }
    )
    refuses(
      (p) => {
        p.home = []
      },
      FieldTypeError,
      'person.home',
      { expected: 'a map' }
    )
    refuses(
      (p) => {
        p.home = new Uint8Array(1)
      },
      FieldTypeError,
      'person.home'
    )
    refuses(
      (p) => {
        p.notes = null
      },
      FieldTypeError,
      'person.notes'
    )
    refuses(
      (p) => {
        ;(p.home as { doors: unknown[] }).doors[1] = true
      },
      FieldTypeError,
      'person.home.doors'
    )
    assert.throws(() => checkRecord([], PERSON), FieldTypeError)
    assert.throws(() => checkRecord(null, PERSON), FieldTypeError)
  })

  it('refuses a record missing a required field, and one with a field the schema does not name', () => {
    refuses(
      (p) => {
        delete p.key
      },
      MissingFieldError,
      'person.key',
      { field: 'key' }
    )
    refuses(
      (p) => {
        delete (p.home as Record<string, unknown>).street
      },
      MissingFieldError,
      'person.home.street'
    )
    refuses(
      (p) => {
        p.smuggled = 1
      },
      UnknownFieldError,
      'person.smuggled',
      { field: 'smuggled' }
    )
    refuses(
      (p) => {
        ;(p.home as Record<string, unknown>).extra = 1
      },
      UnknownFieldError,
      'person.home.extra'
    )
    // Said as the project's decoders say it: the record, then which field.
    assert.throws(() => checkRecord({ ...person(), smuggled: 1 }, PERSON, 'person'), {
      message: 'person: unknown field "smuggled"'
    })
    assert.throws(() => checkRecord({ ...person(), home: { doors: [] } }, PERSON, 'person'), {
      message: 'person.home: missing field "street"'
    })
    assert.throws(() => checkRecord({ ...person(), smuggled: 1 }, PERSON), { message: 'unknown field "smuggled"' })
    // An optional field left out is fine; present as undefined it is not a value of its kind.
    refuses(
      (p) => {
        p.admin = undefined
      },
      FieldTypeError,
      'person.admin'
    )
    // A JSON key "__proto__" is an own field like any other, and unknown here.
    const parsed = JSON.parse('{"__proto__": {"admin": true}}') as Record<string, unknown>
    assert.throws(() => checkRecord({ ...person(), ...parsed }, PERSON), {
      name: 'UnknownFieldError',
      path: '__proto__'
    })
    const long = 'k'.repeat(500)
    refuses(
      (p) => {
        p[long] = 1
      },
      UnknownFieldError,
      `person.${'k'.repeat(64)}`,
      { field: 'k'.repeat(64) }
    )
  })

  it('refuses values past their bounds, with the bound and the actual size', () => {
    refuses(
      (p) => {
        p.name = 'abcdefghi'
      },
      FieldBoundError,
      'person.name',
      { rule: 'max', bound: 8, actual: 9 }
    )
    refuses(
      (p) => {
        p.key = new Uint8Array(31)
      },
      FieldBoundError,
      'person.key',
      { rule: 'size', bound: 32, actual: 31 }
    )
    refuses(
      (p) => {
        p.cert = new Uint8Array(5)
      },
      FieldBoundError,
      'person.cert',
      { rule: 'max', bound: 4, actual: 5 }
    )
    refuses(
      (p) => {
        p.age = 151
      },
      FieldBoundError,
      'person.age',
      { rule: 'max', bound: 150, actual: 151 }
    )
    refuses(
      (p) => {
        p.age = 0
      },
      FieldBoundError,
      'person.age',
      { rule: 'min', bound: 1, actual: 0 }
    )
    refuses(
      (p) => {
        p.tags = ['a', 'b', 'c', 'd']
      },
      FieldBoundError,
      'person.tags',
      { rule: 'maxItems', bound: 3, actual: 4 }
    )
    refuses(
      (p) => {
        p.tags = []
      },
      FieldBoundError,
      'person.tags',
      { rule: 'minItems', bound: 1, actual: 0 }
    )
    refuses(
      (p) => {
        p.tags = ['a', 'bbbbb']
      },
      FieldBoundError,
      'person.tags',
      { rule: 'max', bound: 4, actual: 5 }
    )
    // An item of one value is refused as the list's: what its items must be.
    assert.throws(() => checkRecord({ ...person(), tags: ['a', 'bbbbb'] }, PERSON), {
      message: 'tags items must be strings of at most 4'
    })
    const proof: Field = { kind: 'list', maxItems: 4, item: { kind: 'bytes', max: 32 } }
    assert.throws(() => checkField([new Uint8Array(33)], proof, 'batch.proof'), {
      message: 'batch.proof items must be bytes of at most 32'
    })
    assert.throws(() => checkField(['x'], proof, 'batch.proof'), {
      name: 'FieldTypeError',
      message: 'batch.proof items must be bytes of at most 32'
    })
    refuses(
      (p) => {
        p.notes = { n1: new Uint8Array(1), n2: new Uint8Array(1), n3: new Uint8Array(1) }
      },
      FieldBoundError,
      'person.notes',
      { rule: 'maxEntries', bound: 2, actual: 3 }
    )
    refuses(
      (p) => {
        p.notes = { n1: new Uint8Array(3) }
      },
      FieldBoundError,
      'person.notes.n1',
      { rule: 'max' }
    )
    // Text length is in UTF-16 code units: 8 two-unit characters are 16.
    refuses(
      (p) => {
        p.name = `${'😀'.repeat(4)}abcde`
      },
      FieldBoundError,
      'person.name'
    )
  })

  it('refuses values of the wrong form: pattern, choices, repeats, map keys', () => {
    refuses(
      (p) => {
        p.name = 'Ada'
      },
      FieldFormError,
      'person.name',
      { rule: 'pattern' }
    )
    refuses(
      (p) => {
        p.role = 'auditor'
      },
      FieldFormError,
      'person.role',
      { rule: 'oneOf' }
    )
    refuses(
      (p) => {
        p.tags = ['math', 'math']
      },
      FieldFormError,
      'person.tags[1]',
      { rule: 'unique' }
    )
    refuses(
      (p) => {
        p.notes = { x1: new Uint8Array(1) }
      },
      FieldFormError,
      'person.notes.x1',
      { rule: 'key' }
    )
    const bytesOnce: Field = { kind: 'list', maxItems: 4, unique: true, item: { kind: 'bytes', max: 2 } }
    assert.throws(() => checkField([Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(1)], bytesOnce), {
      name: 'FieldFormError',
      path: '[2]'
    })
    checkField([Uint8Array.of(1), Uint8Array.of(1, 0)], bytesOnce)
  })

  it('checks a tagged variant against the schema its tag names', () => {
    const SHAPE: Field = {
      kind: 'variant',
      tag: 'kind',
      variants: {
        circle: { kind: { kind: 'string', oneOf: ['circle'] }, radius: { kind: 'uint' } },
        square: { kind: { kind: 'string', oneOf: ['square'] }, side: { kind: 'uint', max: 10 } }
      }
    }
    checkField({ kind: 'circle', radius: 3 }, SHAPE)
    checkField({ kind: 'square', side: 3 }, SHAPE)
    assert.throws(() => checkField({ kind: 'circle', side: 3 }, SHAPE, 'shape'), {
      name: 'UnknownFieldError',
      path: 'shape.side'
    })
    assert.throws(() => checkField({ kind: 'square', side: 11 }, SHAPE, 'shape'), {
      name: 'FieldBoundError',
      path: 'shape.side'
    })
    assert.throws(() => checkField({ kind: 'triangle' }, SHAPE, 'shape'), {
      name: 'FieldFormError',
      rule: 'variant',
      path: 'shape.kind'
    })
    assert.throws(() => checkField({ radius: 3 }, SHAPE, 'shape'), { name: 'FieldFormError', path: 'shape.kind' })
    assert.throws(() => checkField({ kind: 'toString' }, SHAPE, 'shape'), { name: 'FieldFormError' })
    assert.throws(() => checkField('circle', SHAPE, 'shape'), { name: 'FieldTypeError' })
  })

  it('says every refusal within a field that states what it expects in those words, at the field', () => {
    const PCRS: Field = {
      kind: 'list',
      minItems: 1,
      maxItems: 24,
      unique: true,
      item: { kind: 'uint', max: 23 },
      expected: 'a list of distinct PCR numbers 0..23'
    }
    for (const bad of [[0, 24], [0, 0], [], 'x', [1.5]]) {
      assert.throws(
        () => checkField(bad, PCRS, 'bootPcrs'),
        (err: Error) => {
          assert.ok(err instanceof SchemaError)
          assert.equal(err.message, 'bootPcrs must be a list of distinct PCR numbers 0..23')
          return true
        },
        JSON.stringify(bad)
      )
    }
    assert.throws(() => checkField([0, 24], PCRS, 'bootPcrs'), { name: 'FieldBoundError', bound: 23, actual: 24 })
  })

  it('converts values given as text only for fields that allow it, returning a copy', () => {
    const FLAGS = {
      port: { kind: 'uint', max: 65535, text: true },
      quiet: { kind: 'bool', text: true },
      peers: { kind: 'list', maxItems: 4, item: { kind: 'string', pattern: '^/' }, text: true },
      strict: { kind: 'uint', optional: true }
    } as const satisfies Schema
    const given = { port: '0080', quiet: 'false', peers: ' /a, /b ,, ' }
    const checked = checkRecord(given, FLAGS)
    assert.deepEqual(checked, { port: 80, quiet: false, peers: ['/a', '/b'] })
    assert.deepEqual(given, { port: '0080', quiet: 'false', peers: ' /a, /b ,, ' })
    assert.deepEqual(checkRecord({ port: 1, quiet: '1', peers: ['/c'] }, FLAGS), {
      port: 1,
      quiet: true,
      peers: ['/c']
    })
    assert.throws(() => checkRecord({ ...given, port: '-1' }, FLAGS), { name: 'FieldTypeError', path: 'port' })
    assert.throws(() => checkRecord({ ...given, port: '70000' }, FLAGS), { name: 'FieldBoundError', path: 'port' })
    assert.throws(() => checkRecord({ ...given, quiet: 'yes' }, FLAGS), { name: 'FieldTypeError', path: 'quiet' })
    assert.throws(() => checkRecord({ ...given, peers: '/a,b' }, FLAGS), { name: 'FieldFormError', path: 'peers' })
    assert.throws(() => checkRecord({ ...given, strict: '1' }, FLAGS), { name: 'FieldTypeError', path: 'strict' })
  })

  it('decodes a typed record from strict canonical CBOR, refusing what the CBOR or the schema refuses', () => {
    const HELLO = { name: { kind: 'string', max: 64 }, key: HASH } as const satisfies Schema
    const bytes = encodeCanonical({ name: 'a', key: new Uint8Array(32).fill(9) })
    const hello = decodeRecord(bytes, HELLO, { maxBytes: 1024 })
    assert.equal(hello.name, 'a')
    assert.deepEqual([...hello.key.subarray(0, 2)], [9, 9])
    assert.notEqual(hello.key.buffer, bytes.buffer)
    assert.equal(decodeRecord(bytes, HELLO, { byteViews: true }).key.buffer, bytes.buffer)
    assert.throws(() => decodeRecord(bytes, HELLO, { maxBytes: bytes.length - 1 }), {
      name: 'MalformedCborError',
      limit: 'maxBytes'
    })
    assert.throws(() => decodeRecord(encodeCanonical({ name: 'a' }), HELLO, { path: 'hello' }), {
      name: 'MissingFieldError',
      path: 'hello.key'
    })
    assert.throws(() => decodeRecord(encodeCanonical({ name: 'a', key: new Uint8Array(32), more: 1 }), HELLO), {
      name: 'UnknownFieldError'
    })
    assert.throws(() => decodeRecord(encodeCanonical({ name: 1, key: new Uint8Array(32) }), HELLO), {
      name: 'FieldTypeError',
      path: 'name'
    })
    assert.throws(() => decodeRecord(encodeCanonical(['a']), HELLO), { name: 'FieldTypeError', path: '' })
    // {"name": "a", "name": "b"}: a repeated key is malformed CBOR before any schema is asked.
    const repeated = Buffer.from('a2646e616d656161646e616d656162', 'hex')
    assert.throws(() => decodeRecord(repeated, HELLO), { name: 'MalformedCborError', offset: 8 })
  })
})
