/**
 * The parser is strict and bounded: every truncation, corrupted size and malformed header of a log
 * is a typed MalformedEventLogError subclass (exit code 2), never a RangeError/TypeError, a hang
 * or a large allocation.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import {
  parseEventLog,
  replayEventLog,
  verifyEventLog,
  bootFacts,
  formatEvents,
  encodeEventLog,
  separatorEvent,
  EV,
  EVENTLOG_LIMITS,
  MalformedEventLogError
} from '../../../src/attest/eventlog/index.js'
import { LOG_NAMES, loadLog } from './helpers.js'
import { needsSharedTestdata } from '../../helpers/shared.js'

const u16 = (n: number): number[] => [n & 0xff, n >>> 8]
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]
const SHA256 = { id: 0x000b, size: 32 }
const SM3 = { id: 0x0012, size: 32 }

/** A crypto-agile log written byte by byte, so that every field can be wrong. */
function specId(
  algorithms: Array<{ id: number; size: number }>,
  options: { version?: [number, number]; trailing?: number[]; count?: number } = {}
): number[] {
  const [major, minor] = options.version ?? [2, 0]
  const body = [
    ...Buffer.from('Spec ID Event03\0', 'latin1'),
    ...u32(0),
    minor,
    major,
    0,
    2,
    ...u32(options.count ?? algorithms.length)
  ]
  for (const a of algorithms) body.push(...u16(a.id), ...u16(a.size))
  body.push(0, ...(options.trailing ?? []))
  return [...u32(0), ...u32(EV.EV_NO_ACTION), ...new Array<number>(20).fill(0), ...u32(body.length), ...body]
}

function event2(
  pcr: number,
  type: number,
  digests: Array<{ id: number; bytes: Uint8Array }>,
  data: Uint8Array
): number[] {
  const out = [...u32(pcr), ...u32(type), ...u32(digests.length)]
  for (const d of digests) out.push(...u16(d.id), ...d.bytes)
  return [...out, ...u32(data.length), ...data]
}

const sha256 = (data: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(data).digest())
const separator = new Uint8Array(4)
const log = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat())
const throwsNamed = (bytes: Uint8Array, name: string, message?: RegExp): void => {
  assert.throws(
    () => parseEventLog(bytes),
    (err: Error & { exitCode?: number }) => {
      assert.equal(err.name, name, err.message)
      assert.ok(err instanceof MalformedEventLogError)
      assert.equal(err.exitCode, 2)
      if (message !== undefined) assert.match(err.message, message)
      return true
    }
  )
}

describe('attest/eventlog: strict parsing', () => {
  needsSharedTestdata(
    it('refuses every truncation of a real log (every prefix length); cuts on event boundaries are valid shorter logs', () => {
      const { bytes } = loadLog('glinux-alex')
      const full = parseEventLog(bytes)
      const boundaries = new Map(full.events.map((e) => [e.offset, e.index]))
      let valid = 0
      for (let length = 0; length < bytes.length; length++) {
        const prefix = bytes.subarray(0, length)
        const eventsBefore = boundaries.get(length)
        if (eventsBefore !== undefined && length > 0) {
          const shorter = parseEventLog(prefix)
          assert.equal(shorter.events.length, eventsBefore, `cut at ${length}`)
          valid++
        } else {
          assert.throws(
            () => parseEventLog(prefix),
            (err: Error) => err.name === 'EventLogTruncatedError',
            `cut at ${length}`
          )
        }
      }
      assert.equal(valid, full.events.length - 1)
    })
  )

  needsSharedTestdata(
    it('refuses cuts a few bytes either side of every event boundary of every other real log', () => {
      for (const name of LOG_NAMES) {
        const { bytes } = loadLog(name)
        const full = parseEventLog(bytes)
        for (const event of [...full.events, { offset: bytes.length, index: full.events.length }]) {
          for (let delta = -5; delta <= 5; delta++) {
            const length = event.offset + delta
            if (length < 0 || length >= bytes.length) continue
            if (delta === 0 && length > 0)
              assert.equal(parseEventLog(bytes.subarray(0, length)).events.length, event.index)
            else
              assert.throws(
                () => parseEventLog(bytes.subarray(0, length)),
                { name: 'EventLogTruncatedError' },
                `${name} cut at ${length}`
              )
          }
        }
      }
    })
  )

  // Without looping over what they claim either: a loop over 2^32 digests or bytes would outlast the test's timeout.
  needsSharedTestdata(
    it('refuses corrupted sizes and counts without allocating what they claim', () => {
      const { bytes } = loadLog('rhel8-uefi')
      const second = parseEventLog(bytes).events[1]!
      const digestBytes = Object.values(second.digests).reduce((n, d) => n + 2 + d.length, 0)
      const cases: Array<[string, number, number, string]> = [
        ['digest count 0xffffffff', second.offset + 8, 0xffffffff, 'EventLogLimitError'],
        ['digest count 8', second.offset + 8, 8, 'EventLogFormatError'],
        ['event size 0xffffffff', second.offset + 12 + digestBytes, 0xffffffff, 'EventLogLimitError'],
        [
          'event size at the limit, past the end',
          second.offset + 12 + digestBytes,
          EVENTLOG_LIMITS.maxEventDataBytes,
          'EventLogTruncatedError'
        ],
        ['header event size 0x7fffffff', 28, 0x7fffffff, 'EventLogLimitError'],
        ['PCR index 0xffffffff', second.offset, 0xffffffff, 'EventLogFormatError']
      ]
      for (const [what, at, value, name] of cases) {
        const corrupted = new Uint8Array(bytes)
        new DataView(corrupted.buffer).setUint32(at, value, true)
        const memory = process.memoryUsage().arrayBuffers
        assert.throws(() => parseEventLog(corrupted), { name }, what)
        assert.ok(process.memoryUsage().arrayBuffers - memory < 4 * 1024 * 1024, `${what}: allocated`)
      }
    })
  )

  it('refuses empty and oversized logs and too many events', () => {
    throwsNamed(new Uint8Array(0), 'EventLogTruncatedError')
    throwsNamed(new Uint8Array(EVENTLOG_LIMITS.maxLogBytes + 1), 'EventLogLimitError', /log size/)
    // Legacy events of 32 bytes each (PCR 1, EV_SEPARATOR, zero digest, no data).
    const one = [...u32(1), ...u32(EV.EV_SEPARATOR), ...new Array<number>(20).fill(0), ...u32(0)]
    const many = new Uint8Array(one.length * (EVENTLOG_LIMITS.maxEvents + 1))
    for (let i = 0; i <= EVENTLOG_LIMITS.maxEvents; i++) many.set(one, i * one.length)
    throwsNamed(many, 'EventLogLimitError', /event count/)
    assert.equal(
      parseEventLog(many.subarray(0, one.length * EVENTLOG_LIMITS.maxEvents)).events.length,
      EVENTLOG_LIMITS.maxEvents
    )
  })

  it('refuses malformed Spec ID events', () => {
    const tail = event2(0, EV.EV_SEPARATOR, [{ id: SHA256.id, bytes: sha256(separator) }], separator)
    throwsNamed(log(specId([SHA256], { version: [1, 2] }), tail), 'EventLogFormatError', /version 1\.2/)
    throwsNamed(log(specId([SHA256], { trailing: [1, 2, 3] }), tail), 'EventLogFormatError', /after vendorInfo/)
    throwsNamed(log(specId([]), tail), 'EventLogFormatError', /no algorithm/)
    throwsNamed(log(specId([SHA256], { count: 1000 }), tail), 'EventLogLimitError', /numberOfAlgorithms/)
    throwsNamed(log(specId([SHA256], { count: 2 }), tail), 'EventLogFormatError', /past the end/)
    throwsNamed(log(specId([{ id: 0x000b, size: 20 }]), tail), 'EventLogFormatError', /sha256 with digest size 20/)
    throwsNamed(log(specId([SHA256, SHA256]), tail), 'EventLogFormatError', /twice/)
    throwsNamed(log(specId([{ id: 0x0099, size: 65 }]), tail), 'EventLogLimitError')
  })

  it('refuses undeclared or repeated digests and PCR indexes out of range', () => {
    const header = specId([SHA256])
    throwsNamed(
      log(header, event2(0, EV.EV_SEPARATOR, [{ id: 0x0004, bytes: new Uint8Array(20) }], separator)),
      'EventLogFormatError',
      /does not declare/
    )
    const d = { id: SHA256.id, bytes: sha256(separator) }
    throwsNamed(log(header, event2(0, EV.EV_SEPARATOR, [d, d], separator)), 'EventLogFormatError', /two digests/)
    throwsNamed(log(header, event2(24, EV.EV_SEPARATOR, [d], separator)), 'EventLogFormatError', /PCR index 24/)
  })

  it('skips digests of unknown algorithms by their declared size: parsing goes on, that bank is not replayable', () => {
    const events = [0, 7].map((pcr) =>
      event2(
        pcr,
        EV.EV_SEPARATOR,
        [
          { id: SM3.id, bytes: new Uint8Array(32).fill(0x33) },
          { id: SHA256.id, bytes: sha256(separator) }
        ],
        separator
      )
    )
    const parsed = parseEventLog(log(specId([SM3, SHA256]), ...events))
    assert.deepEqual(parsed.banks, ['sha256'])
    assert.deepEqual(
      parsed.specId?.algorithms.map((a) => [a.id, a.digestSize, a.bank, a.replayable]),
      [
        [0x12, 32, undefined, false],
        [0x0b, 32, 'sha256', true]
      ]
    )
    assert.deepEqual(Object.keys(parsed.events[1]!.digests), ['sha256'])
    const expected = encodeEventLog({ algorithms: ['sha256'], events: [separatorEvent(0), separatorEvent(7)] }).pcrs
    assert.deepEqual(replayEventLog(parsed), expected)
  })

  it('leaves out of `banks` a bank that some measured event carries no digest of', () => {
    const sha1 = { id: 0x0004, size: 20 }
    const both = [
      { id: sha1.id, bytes: new Uint8Array(20) },
      { id: SHA256.id, bytes: sha256(separator) }
    ]
    const parsed = parseEventLog(
      log(
        specId([sha1, SHA256]),
        event2(0, EV.EV_SEPARATOR, both, separator),
        event2(1, EV.EV_SEPARATOR, [both[1]!], separator)
      )
    )
    assert.deepEqual(parsed.banks, ['sha256'])
    assert.equal(parsed.specId?.algorithms[0]?.replayable, false)
    // EV_NO_ACTION events need no digest at all.
    const noAction = parseEventLog(
      log(
        specId([sha1, SHA256]),
        event2(3, EV.EV_NO_ACTION, [], new Uint8Array(3)),
        event2(0, EV.EV_SEPARATOR, both, separator)
      )
    )
    assert.deepEqual(noAction.banks, ['sha1', 'sha256'])
  })

  it('records StartupLocality, and refuses a second, a misplaced or a malformed one', () => {
    const header = specId([SHA256])
    const locality = (value: number, extra: number[] = []): number[] =>
      event2(
        0,
        EV.EV_NO_ACTION,
        [{ id: SHA256.id, bytes: new Uint8Array(32) }],
        Uint8Array.from([...Buffer.from('StartupLocality\0', 'latin1'), value, ...extra])
      )
    const pcr0 = event2(0, EV.EV_SEPARATOR, [{ id: SHA256.id, bytes: sha256(separator) }], separator)
    assert.equal(parseEventLog(log(header, locality(3), pcr0)).startupLocality, 3)
    assert.equal(parseEventLog(log(header, pcr0)).startupLocality, undefined)
    throwsNamed(log(header, locality(3), locality(3), pcr0), 'EventLogFormatError', /second StartupLocality/)
    throwsNamed(log(header, pcr0, locality(3)), 'EventLogFormatError', /after PCR0 was extended/)
    throwsNamed(log(header, locality(3, [0])), 'EventLogFormatError', /not 17/)
  })

  needsSharedTestdata(
    it('keeps its own copy of the bytes: changing the input afterwards changes nothing', () => {
      const { bytes } = loadLog('rhel8-uefi')
      const copy = new Uint8Array(bytes)
      const parsed = parseEventLog(copy)
      const before = Buffer.from(parsed.events[3]!.data).toString('hex')
      copy.fill(0)
      assert.equal(Buffer.from(parsed.events[3]!.data).toString('hex'), before)
      assert.ok(Object.isFrozen(parsed) && Object.isFrozen(parsed.events) && Object.isFrozen(parsed.events[3]))
    })
  )

  needsSharedTestdata(
    it('mutated real logs give only typed errors, and whatever parses can be replayed, verified, shown and read', () => {
      const seeds = LOG_NAMES.map((name) => loadLog(name).bytes)
      let x = 0x5eed
      const next = (): number => {
        x ^= x << 13
        x >>>= 0
        x ^= x >>> 17
        x ^= x << 5
        x >>>= 0
        return x
      }
      let parsedCount = 0
      for (let i = 0; i < 400; i++) {
        const bytes = new Uint8Array(seeds[i % seeds.length]!)
        for (let flips = 1 + (next() % 4); flips > 0; flips--) bytes[next() % bytes.length] = next() & 0xff
        try {
          const parsed = parseEventLog(bytes)
          parsedCount++
          const replayed = replayEventLog(parsed)
          formatEvents(parsed)
          if (Object.values(replayed).some((bank) => bank.size > 0)) bootFacts(verifyEventLog(parsed, replayed))
        } catch (err) {
          if (!(err instanceof MalformedEventLogError))
            assert.fail(`iteration ${i}: ${(err as Error).name}: ${(err as Error).message}`)
        }
      }
      assert.ok(parsedCount > 50, `only ${parsedCount} mutants parsed: the check downstream of the parser did not run`)
    })
  )
})
