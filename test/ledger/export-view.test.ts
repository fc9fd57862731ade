import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import {
  FeedLedger,
  BASE_ONTOLOGY,
  EXPORT_LIMITS,
  LEDGER_LIMITS,
  MemoryLedgerStore,
  exportFeed,
  verifyExport,
  verifyStoredFeed,
  decodeEntry,
  encodeEntry,
  entryHash,
  entryView,
  type Entry,
  type EntryView,
  type Ontology,
  type ExportEntryLine,
  type TpmClockSource
} from '../../src/ledger/index.js'
import { toHex } from '../../src/common/index.js'
import { actorDirectory, makeActor, type ActorActionInput, type TestActor } from '../helpers/signing-actor.js'
import { tempDir } from '../helpers/devices.js'

/**
 * The derived view on an export's entry lines (fleet-export/2): an auditor's questions answered by
 * plain JSON parsing and by jq, a view that says anything but what the bytes say refused, the
 * older format without views still verifying, and the view's size cap.
 */
const feed = 'e'.repeat(52)
const fleetId = new Uint8Array(32).fill(3)
const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const tpmClock: TpmClockSource = { readTpmClock: async () => ({ clock: 1000n, resetCount: 3, restartCount: 0 }) }
const T0 = 1_795_000_000_000
const MINUTE = 60_000
const smith = makeActor('dr.smith')
const jones = makeActor('nurse.jones')
const actors = actorDirectory(fleetId, [smith, jones], T0 - MINUTE)
const exportTrust = { feedKey: signer.publicKey, fleetId, feedId: feed, ontology: BASE_ONTOLOGY, actors }
const inputHash = new Uint8Array(32).fill(0xab)
const outputHash = new Uint8Array(32).fill(0xcd)
const agent = { id: `agent/${feed}`, role: 'agent' }
const tamper = (pcr: number, detail: string): ActorActionInput => ({
  type: 'alert.tamper',
  attest: null,
  body: { subject: feed, pcr, detail }
})
const access = (resource: string, purpose: string, records?: number): ActorActionInput => ({
  type: 'operator.data_access',
  attest: null,
  body: { resource, purpose, ...(records === undefined ? {} : { records }) }
})

interface ViewedLine {
  kind: string
  seq: number
  entry: string
  derived: Omit<EntryView, 'body'> & { body?: Record<string, unknown> }
}

const parsed = (lines: string[]): ViewedLine[] => lines.map((line) => JSON.parse(line) as ViewedLine)
const withLine = (lines: string[], at: number, edit: (line: ViewedLine) => unknown): string[] =>
  lines.map((line, i) => (i === at ? JSON.stringify(edit(JSON.parse(line) as ViewedLine)) : line))

/** Matches the refusal of entry `seq`'s view, differing at `where`. */
const viewRefused =
  (seq: number, where: string) =>
  (err: Error & { seq?: number; cause?: Error & { seq?: number; path?: string } }): boolean => {
    assert.equal(err.name, 'FeedVerificationError')
    assert.equal(err.cause?.name, 'ExportViewMismatchError', err.message)
    assert.deepEqual([err.seq, err.cause.seq, err.cause.path], [seq, seq, where])
    return true
  }

async function exported(store: MemoryLedgerStore): Promise<string[]> {
  const lines: string[] = []
  for await (const line of exportFeed(store, { feedId: feed })) lines.push(JSON.stringify(line))
  return lines
}

describe('ledger/export-view: derived views for auditors', function () {
  this.timeout(60_000)
  const store = new MemoryLedgerStore()
  let lines: string[]

  before(async () => {
    await store.open()
    let now = T0
    const ledger = new FeedLedger(
      { store, signer, clock: { now: () => now }, tpmClock, ontology: BASE_ONTOLOGY, actors },
      { fleetId, feedId: feed, batchMs: 3_600_000 }
    )
    await ledger.start()
    const where = { fleet: fleetId, device: feed }
    // Entry 5's clock was set back: the time span is the earliest and latest time, not the first and last entry's.
    const steps: Array<[number, TestActor | undefined, ActorActionInput]> = [
      [0, undefined, tamper(7, 'x')],
      [1, smith, access('patient/1', 'care')],
      [2, jones, access('patient/2', 'care', 3)],
      [
        3,
        smith,
        { type: 'operator.model_inference', attest: null, body: { model: 'triage-v2', inputHash, outputHash } }
      ],
      [9, smith, access('patient/7', 'billing', 12)],
      [5, undefined, tamper(0, 'y')]
    ]
    for (const [minutes, by, action] of steps) {
      now = T0 + minutes * MINUTE
      await ledger.append(by === undefined ? { ...action, actor: agent } : await by.signed(action, where, now))
      if (minutes === 9) await ledger.checkpoint()
    }
    await ledger.stop()
    lines = await exported(store)
    // Six entries, the checkpoint after entry 4 and the one stop() signs, the end line.
    assert.equal(lines.length, 6 + 2 + 1)
  })

  after(async () => await store.close())

  it('every entry line carries the view of exactly its bytes: type, actor, device, time as ISO 8601 and as held, body', () => {
    const entryLines = parsed(lines).filter((line) => line.kind === 'entry')
    assert.equal(entryLines.length, 6)
    for (const line of entryLines) {
      const { entry } = decodeEntry(Buffer.from(line.entry, 'base64'))
      assert.deepEqual(Object.keys(line.derived), ['seq', 'type', 'actor', 'device', 'time', 'timeMs', 'body'])
      assert.deepEqual(
        { ...line.derived, body: undefined },
        {
          seq: entry.seq,
          type: entry.type,
          actor: entry.actor,
          device: feed,
          time: new Date(entry.time).toISOString(),
          timeMs: entry.time,
          body: undefined
        }
      )
    }
    // Bytes as {"hex"}, numbers as numbers, text as text.
    assert.deepEqual(entryLines[3]!.derived.body, {
      model: 'triage-v2',
      inputHash: { hex: 'ab'.repeat(32) },
      outputHash: { hex: 'cd'.repeat(32) }
    })
    assert.deepEqual(entryLines[4]!.derived.body, { resource: 'patient/7', purpose: 'billing', records: 12 })
    assert.equal(entryLines[4]!.derived.time, '2026-11-18T11:15:40.000Z')
  })

  it("answers an auditor's questions with plain JSON parsing, as the signed bytes answer them", () => {
    const entries = parsed(lines).filter((line) => line.kind === 'entry')
    const bySmith = entries
      .filter((line) => line.derived.type === 'operator.data_access' && line.derived.actor.id === 'dr.smith')
      .map((line) => [line.derived.seq, line.derived.body?.resource, line.derived.time])
    assert.deepEqual(bySmith, [
      [1, 'patient/1', '2026-11-18T11:07:40.000Z'],
      [4, 'patient/7', '2026-11-18T11:15:40.000Z']
    ])
    // The same question put to the canonical bytes.
    const decoded = entries.map((line) => decodeEntry(Buffer.from(line.entry, 'base64')).entry)
    assert.deepEqual(
      decoded
        .filter((entry) => entry.type === 'operator.data_access' && entry.actor.id === 'dr.smith')
        .map((entry) => [entry.seq, entry.body.resource, new Date(entry.time).toISOString()]),
      bySmith
    )
    const whoSaw = entries
      .filter((line) => line.derived.body?.resource === 'patient/2')
      .map((line) => line.derived.actor.id)
    assert.deepEqual(whoSaw, ['nurse.jones'])
    const records = entries
      .filter((line) => line.derived.actor.role === 'operator')
      .reduce((sum, line) => sum + Number(line.derived.body?.records ?? 0), 0)
    assert.equal(records, 15)
  })

  it('answers them with jq too', async function () {
    if (spawnSync('jq', ['--version']).error !== undefined) {
      process.stderr.write('skipping the jq test: jq is not installed (apt-get install jq)\n')
      this.skip()
    }
    const file = path.join(await tempDir('fleet-export-view-'), 'feed.jsonl')
    // As fleet ledger export writes it: a header line first (no `derived`: queries pass it over).
    writeFileSync(file, `${JSON.stringify({ format: 'fleet-export/2', feed })}\n${lines.join('\n')}\n`)
    const jq = (filter: string): string => {
      const run = spawnSync('jq', ['-r', filter, file], { encoding: 'utf8' })
      assert.equal(run.status, 0, run.stderr)
      return run.stdout
    }
    assert.equal(
      jq(
        'select(.derived.type == "operator.data_access" and .derived.actor.id == "dr.smith") | .derived.body.resource'
      ),
      'patient/1\npatient/7\n'
    )
    assert.equal(
      jq('select(.derived.type == "operator.model_inference") | .derived.body.inputHash.hex'),
      `${'ab'.repeat(32)}\n`
    )
    assert.equal(jq('select(.derived.timeMs >= 1795000300000) | .derived.seq'), '4\n5\n')
  })

  it('the report names the first and last entry and the time span, from the export as from the store', async () => {
    const report = await verifyExport(lines, exportTrust)
    assert.deepEqual(report, await verifyStoredFeed(store, { ...exportTrust, key: signer.publicKey }))
    assert.deepEqual(
      { timeSpan: report.timeSpan, first: report.first, last: report.last },
      {
        timeSpan: {
          from: '2026-11-18T11:06:40.000Z',
          to: '2026-11-18T11:15:40.000Z',
          fromMs: T0,
          toMs: T0 + 9 * MINUTE
        },
        first: { seq: 0, type: 'alert.tamper', actor: agent, time: '2026-11-18T11:06:40.000Z', timeMs: T0 },
        last: { seq: 5, type: 'alert.tamper', actor: agent, time: '2026-11-18T11:11:40.000Z', timeMs: T0 + 5 * MINUTE }
      }
    )
    const empty = await verifyExport([JSON.stringify({ kind: 'end', feed, entries: 0, checkpoints: 0 })], exportTrust)
    assert.deepEqual([empty.timeSpan, empty.first, empty.last], [null, null, null])
  })

  it('refuses a view that says anything but what the bytes say, naming the entry and where', async () => {
    const edits: Array<[number, (line: ViewedLine) => unknown, string]> = [
      [
        1,
        (l) => ({ ...l, derived: { ...l.derived, actor: { id: 'nurse.jones', role: 'operator' } } }),
        'derived.actor.id'
      ],
      [
        1,
        (l) => ({ ...l, derived: { ...l.derived, body: { ...l.derived.body, resource: 'patient/9' } } }),
        'derived.body.resource'
      ],
      [
        3,
        (l) => ({ ...l, derived: { ...l.derived, body: { ...l.derived.body, inputHash: { hex: '00'.repeat(32) } } } }),
        'derived.body.inputHash.hex'
      ],
      [
        3,
        (l) => ({ ...l, derived: { ...l.derived, body: { ...l.derived.body, inputHash: 'ab'.repeat(32) } } }),
        'derived.body.inputHash'
      ],
      [
        4,
        (l) => ({ ...l, derived: { ...l.derived, body: { ...l.derived.body, records: '12' } } }),
        'derived.body.records'
      ],
      [4, (l) => ({ ...l, derived: { ...l.derived, time: '2026-11-19T11:15:40.000Z' } }), 'derived.time'],
      [4, (l) => ({ ...l, derived: { ...l.derived, timeMs: T0 } }), 'derived.timeMs'],
      [2, (l) => ({ ...l, derived: { ...l.derived, seq: 1 } }), 'derived.seq'],
      [2, (l) => ({ ...l, derived: { ...l.derived, note: 'approved' } }), 'derived.note'],
      [
        2,
        (l) => ({ ...l, derived: { ...l.derived, body: { ...l.derived.body, records: undefined } } }),
        'derived.body.records'
      ],
      [2, (l) => ({ ...l, derived: { ...l.derived, body: undefined, bodyOmitted: true } }), 'derived.bodyOmitted'],
      [0, (l) => ({ ...l, derived: JSON.stringify(l.derived) }), 'derived']
    ]
    for (const [at, edit, where] of edits) {
      await assert.rejects(verifyExport(withLine(lines, at, edit), exportTrust), viewRefused(at, where), where)
    }
    // The same view with its keys in another order says the same.
    const reordered = withLine(lines, 3, (l) => ({
      ...l,
      derived: Object.fromEntries(Object.entries(l.derived).reverse())
    }))
    assert.equal((await verifyExport(reordered, exportTrust)).entries, 6)
    // A line without its view is refused too: a query would pass the entry over.
    await assert.rejects(
      verifyExport(
        withLine(lines, 1, (l) => ({ ...l, derived: undefined })),
        exportTrust
      ),
      { name: 'FeedVerificationError', message: /fields must be exactly .*derived/ }
    )
  })

  it('the bytes are verified first: an intact view does not save a changed entry', async () => {
    const original = parsed(lines)[1]!
    const bytes = Buffer.from(original.entry, 'base64')
    const changed = decodeEntry(bytes).entry
    const forged = encodeEntry({ ...changed, body: { ...changed.body, resource: 'patient/9' } })
    await assert.rejects(
      verifyExport(
        withLine(lines, 1, (l) => ({
          ...l,
          entry: Buffer.from(forged).toString('base64'),
          hash: toHex(entryHash(forged))
        })),
        exportTrust
      ),
      (err: Error & { cause?: Error }) =>
        err.name === 'FeedVerificationError' && err.cause?.name !== 'ExportViewMismatchError'
    )
  })

  it('an export of the older format, fleet-export/1 (no views), still verifies; formats do not mix', async () => {
    const older = lines.map((line) => {
      const value = JSON.parse(line) as Record<string, unknown>
      delete value.derived
      return JSON.stringify(value)
    })
    assert.ok(older.every((line) => !line.includes('derived')))
    const report = await verifyExport(lines, exportTrust)
    assert.deepEqual(await verifyExport(older, exportTrust, { format: 'fleet-export/1' }), report)
    await assert.rejects(verifyExport(older, exportTrust, { format: 'fleet-export/2' }), {
      name: 'FeedVerificationError',
      message: /line 1: fields must be exactly/
    })
    await assert.rejects(verifyExport(lines, exportTrust, { format: 'fleet-export/1' }), {
      name: 'FeedVerificationError',
      message: /line 1: fields must be exactly/
    })
  })

  describe('bounds', () => {
    it('the view at its cap leaves room on a line for an entry at its cap', () => {
      const base64 = 4 * Math.ceil(LEDGER_LIMITS.maxEntryBytes / 3)
      // The line's other fields: kind, seq and time as 16 digits, hash, type up to 64 characters, quotes and keys.
      const rest = JSON.stringify({
        kind: 'entry',
        seq: Number.MAX_SAFE_INTEGER,
        hash: 'f'.repeat(64),
        entry: '',
        type: 'x'.repeat(64),
        time: Number.MAX_SAFE_INTEGER,
        derived: null
      }).length
      assert.ok(base64 + EXPORT_LIMITS.maxViewLength + rest <= EXPORT_LIMITS.maxLineLength)
    })

    it('a body whose view would pass the cap is left out, saying so; a view that puts it back is refused', async () => {
      // Control characters are 1 byte in the entry and 6 characters as JSON escapes.
      const ontology: Ontology = {
        version: BASE_ONTOLOGY.version,
        actions: {
          ...BASE_ONTOLOGY.actions,
          'test.transcript': {
            roles: ['agent'],
            body: { parts: { kind: 'list', maxItems: 16, item: { kind: 'string', max: 4096 } } }
          }
        }
      }
      const parts = Array.from({ length: 7 }, () => '\u0001'.repeat(3950))
      const big = new MemoryLedgerStore()
      await big.open()
      const ledger = new FeedLedger(
        { store: big, signer, clock: { now: () => T0 }, tpmClock, ontology },
        { fleetId, feedId: feed, batchMs: 3_600_000 }
      )
      await ledger.start()
      await ledger.append({ type: 'test.transcript', actor: agent, attest: null, body: { parts } })
      await ledger.append({ type: 'test.transcript', actor: agent, attest: null, body: { parts: ['\u0001'] } })
      await ledger.checkpoint()
      await ledger.stop()
      const bigLines = await exported(big)
      await big.close()
      const trust = { ...exportTrust, ontology }
      const [omitted, kept] = parsed(bigLines)
      assert.equal(omitted!.derived.bodyOmitted, true)
      assert.equal(Object.hasOwn(omitted!.derived, 'body'), false)
      assert.deepEqual(kept!.derived.body, { parts: ['\u0001'] })
      assert.ok(bigLines.every((line) => line.length <= EXPORT_LIMITS.maxLineLength))
      assert.equal((await verifyExport(bigLines, trust)).entries, 2)
      // The full view is over the cap yet fits a line: only the cap refuses it.
      const full = { ...omitted!.derived, bodyOmitted: undefined, body: { parts } }
      assert.ok(JSON.stringify(full).length > EXPORT_LIMITS.maxViewLength)
      const restored = withLine(bigLines, 0, (l) => ({ ...l, derived: full }))
      assert.ok(restored[0]!.length <= EXPORT_LIMITS.maxLineLength)
      await assert.rejects(verifyExport(restored, trust), viewRefused(0, 'derived.body'))
      // Nor may a body under the cap be left out.
      await assert.rejects(
        verifyExport(
          withLine(bigLines, 1, (l) => ({ ...l, derived: { ...l.derived, body: undefined, bodyOmitted: true } })),
          trust
        ),
        viewRefused(1, 'derived.bodyOmitted')
      )
    })

    it('a time past what JavaScript dates reach is shown as held, its ISO form null, and verifies', async () => {
      const time = 8_640_000_000_000_001
      const entry: Entry = {
        v: 1,
        fleet: fleetId,
        feed,
        seq: 0,
        prev: new Uint8Array(32),
        time,
        type: 'alert.tamper',
        actor: agent,
        device: feed,
        attest: null,
        body: { subject: feed, pcr: 7, detail: 'far' }
      }
      const bytes = encodeEntry(entry)
      const view = entryView(decodeEntry(bytes).entry)
      assert.deepEqual([view.time, view.timeMs], [null, time])
      const line: ExportEntryLine = {
        kind: 'entry',
        seq: 0,
        hash: toHex(entryHash(bytes)),
        entry: Buffer.from(bytes).toString('base64'),
        type: entry.type,
        time,
        derived: view
      }
      const report = await verifyExport(
        [JSON.stringify(line), JSON.stringify({ kind: 'end', feed, entries: 1, checkpoints: 0 })],
        exportTrust
      )
      assert.deepEqual(report.timeSpan, { from: null, to: null, fromMs: time, toMs: time })
      assert.equal(report.first?.time, null)
    })
  })
})
