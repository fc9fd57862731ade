/**
 * EV_NO_ACTION events extend no PCR (TCG PC Client Platform Firmware Profile, "Event Types"), so
 * their PCR index is not a PCR: Windows measured-boot logs end with EV_NO_ACTION events at index
 * 0xFFFFFFFF. None of the real logs of ../shared/testdata has such events, so they are appended,
 * with the project's event writer, to a real log's bytes: the replay must not change, and the
 * events must be parsed and shown. Any other event outside PCRs 0-23 is still refused.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import {
  parseEventLog,
  replayEventLog,
  verifyEventLog,
  formatEvents,
  encodeEvent,
  encodeEventLog,
  separatorEvent,
  EV,
  type UnverifiedEventLog
} from '../../../src/attest/eventlog/index.js'
import { DIGEST_SIZE, type HashAlg } from '../../../src/attest/pcrs.js'
import { runFleet } from '../../helpers/cli.js'
import { LOG_DIR, loadLog, toHexPcrs, toPcrValues } from './helpers.js'

const WINDOWS_INDEX = 0xffffffff
const latin1 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'))
/** Trailing events as a Windows boot manager writes them: never extended, opaque data. */
const trailing = [
  { pcr: WINDOWS_INDEX, type: EV.EV_NO_ACTION, data: latin1('WBCL trailing event 1') },
  { pcr: WINDOWS_INDEX, type: EV.EV_NO_ACTION, data: new Uint8Array(41).fill(0xa5) },
  { pcr: WINDOWS_INDEX, type: EV.EV_NO_ACTION, data: new Uint8Array(0) }
]

function banksOf(log: UnverifiedEventLog): HashAlg[] {
  return log.specId!.algorithms.map((a) => a.bank!)
}

function appended(
  bytes: Uint8Array,
  events: ReadonlyArray<Parameters<typeof encodeEvent>[0]>,
  algorithms: readonly HashAlg[]
): Uint8Array {
  return Uint8Array.from(Buffer.concat([bytes, ...events.map((event) => encodeEvent(event, algorithms))]))
}

/** A legacy TCG_PCR_EVENT (SHA-1 log format). */
function legacyEvent(pcr: number, type: number, data: Uint8Array, sha1 = new Uint8Array(20)): Uint8Array {
  const head = Buffer.alloc(8)
  head.writeUInt32LE(pcr, 0)
  head.writeUInt32LE(type, 4)
  const size = Buffer.alloc(4)
  size.writeUInt32LE(data.length, 0)
  return Uint8Array.from(Buffer.concat([head, sha1, size, data]))
}

describe('attest/eventlog: EV_NO_ACTION events at any PCR index', () => {
  before(function () {
    if (!existsSync(LOG_DIR)) {
      console.warn(`      skipped: ${LOG_DIR} (the shared real event logs) is absent`)
      this.skip()
    }
  })

  it('a Windows log ending in EV_NO_ACTION events at PCR index 0xFFFFFFFF is parsed, shown, and replays as without them (it was refused whole)', () => {
    const { bytes, expected } = loadLog('rhel8-uefi')
    const original = parseEventLog(bytes)
    const windows = parseEventLog(appended(bytes, trailing, banksOf(original)))

    assert.equal(windows.events.length, original.events.length + trailing.length)
    const added = windows.events.slice(original.events.length)
    assert.deepEqual(
      added.map((e) => [e.pcr, e.typeName, e.data.length]),
      trailing.map((e) => [WINDOWS_INDEX, 'EV_NO_ACTION', e.data.length])
    )
    assert.deepEqual(windows.banks, original.banks)

    // Replay and verification are exactly those of the log without the events.
    assert.deepEqual(toHexPcrs(replayEventLog(windows)), expected.pcrs)
    const verified = verifyEventLog(windows, toPcrValues(expected.pcrs), { quirks: [] })
    assert.equal(verified.events.length, original.events.filter((e) => e.type !== EV.EV_NO_ACTION).length)
    assert.ok(verified.events.every((e) => e.pcr < 24))

    // Shown, with their index.
    const rows = formatEvents(windows).slice(original.events.length)
    assert.deepEqual(
      rows.map((r) => [r.pcr, r.typeName, r.summary]),
      [
        [WINDOWS_INDEX, 'EV_NO_ACTION', '"WBCL trailing event 1"'],
        [WINDOWS_INDEX, 'EV_NO_ACTION', '41 bytes'],
        [WINDOWS_INDEX, 'EV_NO_ACTION', '0 bytes']
      ]
    )
  })

  it('fleet eventlog show lists the events at 0xFFFFFFFF and fleet eventlog replay gives the PCRs of the log without them', () => {
    const { bytes, expected } = loadLog('rhel8-uefi')
    const dir = mkdtempSync(path.join(tmpdir(), 'fleet-eventlog-'))
    try {
      const file = path.join(dir, 'windows.bin')
      writeFileSync(file, appended(bytes, trailing, banksOf(parseEventLog(bytes))))
      const shown = runFleet(['eventlog', 'show', file, '--json'])
      assert.equal(shown.status, 0, shown.stderr)
      const events = (JSON.parse(shown.stdout) as { events: Array<{ pcr: number; type: string }> }).events
      assert.deepEqual(
        events.slice(-3).map((e) => [e.pcr, e.type]),
        trailing.map(() => [WINDOWS_INDEX, 'EV_NO_ACTION'])
      )
      const text = runFleet(['eventlog', 'show', file])
      assert.equal(text.status, 0, text.stderr)
      assert.match(text.stdout, /PCR 4294967295 EV_NO_ACTION/)
      const replayed = runFleet(['eventlog', 'replay', file, '--json'])
      assert.equal(replayed.status, 0, replayed.stderr)
      assert.deepEqual((JSON.parse(replayed.stdout) as { pcrs: unknown }).pcrs, expected.pcrs)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('an EV_NO_ACTION event carrying non-zero digests extends nothing, whatever PCR index it names', () => {
    const { bytes, expected } = loadLog('rhel8-uefi')
    const algorithms = banksOf(parseEventLog(bytes))
    const loud = (pcr: number): Parameters<typeof encodeEvent>[0] => ({
      pcr,
      type: EV.EV_NO_ACTION,
      data: latin1('pretend measurement'),
      digests: Object.fromEntries(algorithms.map((alg) => [alg, new Uint8Array(DIGEST_SIZE[alg]).fill(0x42)]))
    })
    for (const pcr of [0, 7, 23, 24, 0x80000000, WINDOWS_INDEX]) {
      const log = parseEventLog(appended(bytes, [loud(pcr)], algorithms))
      assert.deepEqual(toHexPcrs(replayEventLog(log)), expected.pcrs, `PCR index ${pcr}`)
      verifyEventLog(log, toPcrValues(expected.pcrs), { quirks: [] })
    }
  })

  it('a StartupLocality event at PCR index 0xFFFFFFFF sets no locality: PCR0 still replays from zero', () => {
    const { bytes, expected } = loadLog('rhel8-uefi')
    const locality = {
      pcr: WINDOWS_INDEX,
      type: EV.EV_NO_ACTION,
      data: Uint8Array.from([...latin1('StartupLocality\0'), 3])
    }
    const log = parseEventLog(appended(bytes, [locality], banksOf(parseEventLog(bytes))))
    assert.equal(log.startupLocality, undefined)
    assert.deepEqual(toHexPcrs(replayEventLog(log)), expected.pcrs)
    assert.equal(formatEvents(log).at(-1)!.summary, 'StartupLocality 3 (not at PCR index 0: not used)')
  })

  it('any other event type at a PCR index outside 0-23 is still refused, at its offset', () => {
    const { bytes } = loadLog('rhel8-uefi')
    const algorithms = banksOf(parseEventLog(bytes))
    for (const [pcr, type] of [
      [WINDOWS_INDEX, EV.EV_EFI_ACTION],
      [24, EV.EV_SEPARATOR],
      [WINDOWS_INDEX, EV.EV_SEPARATOR],
      [0x80000000, EV.EV_POST_CODE]
    ] as const) {
      // The writer refuses to make it; the bytes are patched from an event at PCR 0.
      assert.throws(() => encodeEvent({ pcr, type, data: new Uint8Array(4) }, algorithms), {
        name: 'EventLogEncodeError'
      })
      const event = encodeEvent({ pcr: 0, type, data: new Uint8Array(4) }, algorithms)
      new DataView(event.buffer).setUint32(0, pcr, true)
      assert.throws(
        () => parseEventLog(Uint8Array.from(Buffer.concat([bytes, event]))),
        (err: Error & { offset: number }) => {
          assert.equal(err.name, 'EventLogFormatError')
          assert.equal(err.offset, bytes.length)
          assert.match(err.message, new RegExp(`PCR index ${pcr} is out of range`))
          return true
        }
      )
    }
  })

  it('a legacy SHA-1 log ending in EV_NO_ACTION events at 0xFFFFFFFF replays as without them; a measured event there is refused', () => {
    const { bytes, expected } = loadLog('debian-10')
    const tail = legacyEvent(WINDOWS_INDEX, EV.EV_NO_ACTION, latin1('trailing'), new Uint8Array(20).fill(0x42))
    const log = parseEventLog(Uint8Array.from(Buffer.concat([bytes, tail, tail])))
    assert.equal(log.format, 'sha1-legacy')
    assert.deepEqual(
      log.events.slice(-2).map((e) => [e.pcr, e.typeName]),
      [
        [WINDOWS_INDEX, 'EV_NO_ACTION'],
        [WINDOWS_INDEX, 'EV_NO_ACTION']
      ]
    )
    assert.deepEqual(toHexPcrs(replayEventLog(log)), expected.pcrs)
    assert.throws(
      () =>
        parseEventLog(
          Uint8Array.from(Buffer.concat([bytes, legacyEvent(WINDOWS_INDEX, EV.EV_SEPARATOR, new Uint8Array(4))]))
        ),
      { name: 'EventLogFormatError' }
    )
  })

  it('the writer writes EV_NO_ACTION events at 0xFFFFFFFF, and a log of them replays to the log without them', () => {
    const events = [separatorEvent(0), separatorEvent(7)]
    const plain = encodeEventLog({ algorithms: ['sha256'], startupLocality: 3, events })
    const windows = encodeEventLog({ algorithms: ['sha256'], startupLocality: 3, events: [...events, ...trailing] })
    assert.deepEqual(toHexPcrs(windows.pcrs), toHexPcrs(plain.pcrs))
    assert.deepEqual(windows.measurements, plain.measurements)
    const parsed = parseEventLog(windows.log)
    assert.equal(parsed.startupLocality, 3)
    assert.deepEqual(toHexPcrs(replayEventLog(parsed)), toHexPcrs(plain.pcrs))
    assert.throws(
      () => encodeEventLog({ algorithms: ['sha256'], events: [{ ...separatorEvent(7), pcr: WINDOWS_INDEX }] }),
      { name: 'EventLogEncodeError' }
    )
  })
})
