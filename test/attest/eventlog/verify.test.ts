/**
 * verifyEventLog: the only way from a parsed log to events anyone may use. It must accept the
 * quoted values a log replays to, and refuse, with the evidence, anything it does not explain.
 */
import assert from 'node:assert/strict'
import {
  parseEventLog,
  replayEventLog,
  verifyEventLog,
  bootFacts,
  secureBootState,
  VerifiedEventLog,
  EV,
  initialPcrValue,
  EventLogReplayMismatchError
} from '../../../src/attest/eventlog/index.js'
import type { PcrValues } from '../../../src/attest/pcrs.js'
import { loadLog, toPcrValues } from './helpers.js'
import { needsSharedTestdata } from '../../helpers/shared.js'

const rhel8 = (): { log: ReturnType<typeof parseEventLog>; quoted: PcrValues } => {
  const { bytes, expected } = loadLog('rhel8-uefi')
  return { log: parseEventLog(bytes), quoted: toPcrValues(expected.pcrs) }
}
const hex = (bytes: Uint8Array | undefined): string => Buffer.from(bytes ?? []).toString('hex')

needsSharedTestdata(
  describe('attest/eventlog: verifyEventLog', () => {
    it('accepts the quoted values the log replays to, keeping only measured events of quoted PCRs', () => {
      const { log, quoted } = rhel8()
      const verified = verifyEventLog(log, quoted)
      assert.ok(verified instanceof VerifiedEventLog && VerifiedEventLog.isVerified(verified))
      assert.deepEqual(verified.banks, ['sha1', 'sha256', 'sha384'])
      assert.deepEqual(verified.pcrs.sha256, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14])
      assert.equal(verified.quirk, undefined)
      assert.ok(verified.events.every((e) => e.type !== EV.EV_NO_ACTION))
      assert.equal(verified.events.length, log.events.length - 1)
      assert.ok(Object.isFrozen(verified) && Object.isFrozen(verified.events))
    })

    it('refuses one changed PCR value, with the evidence (bank, PCR, quoted, replayed)', () => {
      const { log, quoted } = rhel8()
      const genuine = hex(quoted.sha256!.get(4))
      quoted.sha256!.set(4, new Uint8Array(32).fill(7))
      assert.throws(
        () => verifyEventLog(log, quoted),
        (err: EventLogReplayMismatchError) => {
          assert.equal(err.name, 'EventLogReplayMismatchError')
          assert.equal(err.code, 'ERR_EVENT_LOG_REPLAY_MISMATCH')
          assert.equal(err.exitCode, 1)
          assert.deepEqual([err.bank, err.pcr, err.quoted, err.replayed], ['sha256', 4, '07'.repeat(32), genuine])
          assert.deepEqual(err.workaroundsTried, [])
          return true
        }
      )
    })

    it('names the first differing PCR in bank order, then PCR order', () => {
      const { log, quoted } = rhel8()
      quoted.sha256!.set(1, new Uint8Array(32))
      quoted.sha1!.set(7, new Uint8Array(20))
      quoted.sha1!.set(2, new Uint8Array(20))
      assert.throws(
        () => verifyEventLog(log, quoted),
        (err: EventLogReplayMismatchError) => err.bank === 'sha1' && err.pcr === 2
      )
    })

    it('refuses a quoted PCR that the log does not explain (events left out), and accepts one at its reset value', () => {
      const { log, quoted } = rhel8()
      quoted.sha256!.set(23, new Uint8Array(32))
      quoted.sha256!.set(17, initialPcrValue('sha256', 17, undefined))
      assert.equal(verifyEventLog(log, quoted).pcrs.sha256?.includes(23), true)
      quoted.sha256!.set(23, new Uint8Array(32).fill(1))
      assert.throws(
        () => verifyEventLog(log, quoted),
        (err: EventLogReplayMismatchError) => {
          assert.equal(err.name, 'EventLogMissingEventsError')
          assert.ok(err instanceof EventLogReplayMismatchError)
          assert.deepEqual(
            [err.bank, err.pcr, err.quoted, err.replayed],
            ['sha256', 23, '01'.repeat(32), '00'.repeat(32)]
          )
          return true
        }
      )
    })

    it('counts only quoted banks the log can replay: others are ignored, none at all is refused', () => {
      const { log, quoted } = rhel8()
      const onlySha256 = verifyEventLog(log, { sha256: quoted.sha256!, sha512: new Map([[0, new Uint8Array(64)]]) })
      assert.deepEqual(onlySha256.banks, ['sha256'])
      assert.ok(onlySha256.events.every((e) => Object.keys(e.digests).join() === 'sha256'))
      // A quoted bank counts fully: a wrong sha1 value is refused even when sha256 is right.
      assert.throws(() => verifyEventLog(log, { ...quoted, sha1: new Map([[0, new Uint8Array(20)]]) }), {
        name: 'EventLogReplayMismatchError'
      })
      assert.throws(() => verifyEventLog(log, { sha512: new Map([[0, new Uint8Array(64)]]) }), {
        name: 'EventLogBankError'
      })
      assert.throws(() => verifyEventLog(parseEventLog(loadLog('debian-10').bytes), { sha256: quoted.sha256! }), {
        name: 'EventLogBankError'
      })
      assert.throws(() => verifyEventLog(log, { sha256: new Map() }), { name: 'EventLogBankError' })
    })

    it('keeps only events of quoted PCRs, with only the digests of the banks that vouch for them', () => {
      const { log, quoted } = rhel8()
      const partial: PcrValues = {
        sha256: new Map([0, 7].map((pcr) => [pcr, quoted.sha256!.get(pcr)!])),
        sha1: new Map([[7, quoted.sha1!.get(7)!]])
      }
      const verified = verifyEventLog(log, partial)
      assert.deepEqual([...new Set(verified.events.map((e) => e.pcr))].sort(), [0, 7])
      for (const event of verified.events)
        assert.deepEqual(Object.keys(event.digests).sort(), event.pcr === 7 ? ['sha1', 'sha256'] : ['sha256'])
      assert.equal(verified.startupLocality, undefined)
      // Facts from unquoted PCRs are simply not there: PCR 8 (kernel command line) was not quoted.
      assert.equal(bootFacts(verified).kernelCommandLine, undefined)
      assert.equal(bootFacts(verified).secureBoot, true)
    })

    it('refuses a required PCR that is not quoted', () => {
      const { log, quoted } = rhel8()
      assert.doesNotThrow(() => verifyEventLog(log, quoted, { requiredPcrs: [0, 7, 14] }))
      assert.throws(
        () => verifyEventLog(log, quoted, { requiredPcrs: [7, 11] }),
        (err: Error & { pcr?: number }) => err.name === 'EventLogPcrNotQuotedError' && err.pcr === 11
      )
    })

    it('starts PCR0 from the StartupLocality: gdc-host verifies with it, and not from zero', () => {
      const { bytes, expected } = loadLog('gdc-host')
      const log = parseEventLog(bytes)
      assert.equal(verifyEventLog(log, toPcrValues(expected.pcrs)).startupLocality, 3)
      const fromZero = replayEventLog(log, { startupLocality: undefined })
      assert.notEqual(hex(fromZero.sha256!.get(0)), expected.pcrs.sha256!['0'])
      assert.throws(
        () => verifyEventLog(log, fromZero),
        (err: EventLogReplayMismatchError) => err.pcr === 0
      )
    })

    it('only verifyEventLog makes a VerifiedEventLog: copies, casts and the constructor are refused', () => {
      const { log, quoted } = rhel8()
      const verified = verifyEventLog(log, quoted)
      const fakes: unknown[] = [
        log,
        { ...verified },
        Object.create(verified),
        JSON.parse(JSON.stringify({ ...verified, events: [] }))
      ]
      for (const fake of fakes) {
        assert.throws(() => bootFacts(fake as VerifiedEventLog), { name: 'EventLogNotVerifiedError' })
        assert.throws(() => secureBootState(fake as VerifiedEventLog), { name: 'EventLogNotVerifiedError' })
      }
      const Constructor = VerifiedEventLog as unknown as new (token: symbol, init: unknown) => VerifiedEventLog
      assert.throws(() => new Constructor(Symbol('VerifiedEventLog'), verified), { name: 'EventLogNotVerifiedError' })
    })
  })
)
