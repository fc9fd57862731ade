import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import {
  FeedLedger,
  BASE_ONTOLOGY,
  makeProofBundle,
  verifyProofBundle,
  exportFeed,
  verifyExport,
  verifyStoredFeed,
  decodeEntry,
  cosignCheckpoint,
  LevelLedgerStore,
  feedSublevels,
  type ProofBundle,
  type TpmClockSource,
  type ExportLine
} from '../../src/ledger/index.js'
import { tempDir } from '../helpers/devices.js'

const feed = 'a'.repeat(52)
const fleetId = new Uint8Array(32).fill(1)
const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const stranger = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const clock = { now: () => 1_795_000_000_000 }
const tpmClock: TpmClockSource = { readTpmClock: async () => ({ clock: 1000n, resetCount: 3, restartCount: 0 }) }
const trust = { feedKey: signer.publicKey, ontology: BASE_ONTOLOGY, fleetId }
const exportTrust = { feedKey: signer.publicKey, fleetId, feedId: feed, ontology: BASE_ONTOLOGY }

const action = (i: number): Parameters<FeedLedger['append']>[0] => ({
  type: 'alert.tamper',
  actor: { id: `agent/${feed}`, role: 'agent' },
  attest: null,
  body: { subject: feed, pcr: 7, detail: `record-${i}` }
})

/** Replaces the base64 character at `at` with another one (keeps the text canonical if `at` is not the last data character). */
function swapChar(text: string, at: number): string {
  const replacement = text[at] === 'A' ? 'B' : 'A'
  return text.slice(0, at) + replacement + text.slice(at + 1)
}

function flipByte(base64: string, at: number): string {
  const bytes = Buffer.from(base64, 'base64')
  bytes[at]! ^= 0x01
  return bytes.toString('base64')
}

function flipChar(text: string, at: number): string {
  return text.slice(0, at) + String.fromCharCode(text.charCodeAt(at) ^ 0x01) + text.slice(at + 1)
}

describe('ledger/proof: inclusion-proof bundles and JSONL export', function () {
  this.timeout(120_000)
  let db: LevelLedgerStore
  let ledger: FeedLedger

  before(async () => {
    db = new LevelLedgerStore(path.join(await tempDir(), 'db'))
    await db.open()
    ledger = new FeedLedger(
      { store: db, signer, clock, tpmClock, ontology: BASE_ONTOLOGY },
      { fleetId, feedId: feed, batchMs: 3_600_000 }
    )
    await ledger.start()
    // Checkpoints of 25 and 40 entries, then 3 entries not yet sealed.
    for (let i = 0; i < 25; i++) await ledger.append(action(i))
    await ledger.checkpoint()
    await Promise.all(Array.from({ length: 15 }, async (_, i) => await ledger.append(action(25 + i))))
    await ledger.checkpoint()
    for (let i = 40; i < 43; i++) await ledger.append(action(i))
    assert.equal(ledger.sealedSize, 40)
  })

  after(async () => {
    await ledger.stop()
    await db.close()
  })

  const bundle = async (seq: number): Promise<ProofBundle> => await makeProofBundle(db, { feedId: feed, seq })

  describe('ledger/proof bundles', () => {
    it('verifies bundles for entries under each checkpoint, also after a JSON round trip', async () => {
      for (const seq of [0, 1, 7, 24, 25, 31, 39]) {
        const made = await bundle(seq)
        assert.deepEqual(Object.keys(made), ['format', 'feed', 'seq', 'entry', 'checkpoint', 'proof'])
        assert.equal(made.format, 'fleet-proof/1')
        assert.deepEqual(Buffer.from(made.entry, 'base64'), Buffer.from((await ledger.getEntry(seq))!))
        const result = verifyProofBundle(JSON.parse(JSON.stringify(made)), trust)
        assert.equal(result.feed, feed)
        assert.equal(result.seq, seq)
        assert.equal(result.entry.seq, seq)
        assert.deepEqual(result.entry.body, { subject: feed, pcr: 7, detail: `record-${seq}` })
        assert.equal(result.checkpointSize, seq < 25 ? 25 : 40)
        assert.match(result.root, /^[0-9a-f]{64}$/)
      }
      // Without the optional fleet and ontology checks too.
      assert.equal(verifyProofBundle(await bundle(3), { feedKey: signer.publicKey }).seq, 3)
    })

    it('makes a bundle under a checkpoint that many witnesses cosigned (their lines stay out of it)', async () => {
      const { checkpoints } = feedSublevels(db)
      const key = (40).toString(16).padStart(16, '0')
      const original = (await checkpoints.get(key))!
      let note = Buffer.from(original).toString('utf8')
      for (let i = 0; i < 6; i++)
        note = await cosignCheckpoint(
          note,
          new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32))),
          `${'w'.repeat(51)}${'abcdef'[i]!}`
        )
      assert.ok(note.length > 16 * 1024)
      await db.write([{ type: 'put', sublevel: checkpoints, key, value: new Uint8Array(Buffer.from(note)) }], {
        sync: false
      })
      try {
        const made = await bundle(30)
        assert.equal(made.checkpoint, Buffer.from(original).toString('utf8'))
        assert.equal(verifyProofBundle(made, trust).checkpointSize, 40)
      } finally {
        await db.write([{ type: 'put', sublevel: checkpoints, key, value: original }], { sync: false })
      }
    })

    it('refuses to make a bundle for an entry not stored or not yet sealed', async () => {
      await assert.rejects(bundle(40), { name: 'ProofError' })
      await assert.rejects(bundle(42), { name: 'ProofError' })
      await assert.rejects(bundle(1000), { name: 'ProofError' })
      await assert.rejects(bundle(-1), { name: 'ProofError' })
      await assert.rejects(bundle(1.5), { name: 'ProofError' })
      await assert.rejects(makeProofBundle(db, { feedId: 'b'.repeat(52), seq: 3 }), { name: 'ProofError' })
    })

    it('refuses a bundle checked against another feed key or fleet', async () => {
      const made = await bundle(5)
      assert.throws(() => verifyProofBundle(made, { feedKey: stranger.publicKey }), {
        name: 'CheckpointSignatureError'
      })
      assert.throws(() => verifyProofBundle(made, { ...trust, fleetId: new Uint8Array(32).fill(2) }), {
        name: 'ProofError'
      })
    })

    it('refuses a changed entry, proof hash, checkpoint root or signature, each with its typed error', async () => {
      const made = await bundle(10)
      // A byte inside the body text: still a well-formed entry, but not the one in the tree.
      const bytes = Buffer.from(made.entry, 'base64')
      const at = bytes.indexOf(Buffer.from('record-10'))
      assert.ok(at > 0)
      assert.throws(() => verifyProofBundle({ ...made, entry: flipByte(made.entry, at + 7) }, trust), {
        name: 'ProofError'
      })
      // The first byte (the map header): no longer an entry.
      assert.throws(() => verifyProofBundle({ ...made, entry: flipByte(made.entry, 0) }, trust), {
        name: 'MalformedCborError'
      })
      // Every proof hash, at its first, middle and last byte.
      assert.ok(made.proof.length >= 4)
      for (let i = 0; i < made.proof.length; i++) {
        for (const byte of [0, 16, 31]) {
          const proof = made.proof.map((h, j) => (j === i ? flipByte(h, byte) : h))
          assert.throws(
            () => verifyProofBundle({ ...made, proof }, trust),
            { name: 'ProofError' },
            `proof[${i}] byte ${byte}`
          )
        }
      }
      // The checkpoint's root line (the third line of the note).
      const lines = made.checkpoint.split('\n')
      const rootLine = lines.slice(0, 2).join('\n').length + 1
      assert.throws(() => verifyProofBundle({ ...made, checkpoint: swapChar(made.checkpoint, rootLine) }, trust), {
        name: 'CheckpointSignatureError'
      })
      // Each of the two signatures, in the middle of the signature data.
      const signatureLines = lines.map((line, i) => ({ line, i })).filter(({ line }) => line.startsWith('\u2014 '))
      assert.equal(signatureLines.length, 2)
      for (const { line, i } of signatureLines) {
        const offset = lines.slice(0, i).join('\n').length + 1 + Math.floor(line.length * 0.75)
        assert.throws(() => verifyProofBundle({ ...made, checkpoint: swapChar(made.checkpoint, offset) }, trust), {
          name: 'CheckpointSignatureError'
        })
      }
      // A body line that no longer parses.
      assert.throws(
        () => verifyProofBundle({ ...made, checkpoint: made.checkpoint.replace('\nepoch ', '\nepoch x') }, trust),
        { name: 'MalformedCheckpointError' }
      )
    })

    it('refuses a wrong seq, a proof for another leaf, and a checkpoint that does not match the proof', async () => {
      const made = await bundle(10)
      const other = await bundle(11)
      const later = await bundle(30)
      assert.throws(() => verifyProofBundle({ ...made, seq: 11 }, trust), { name: 'ProofError' })
      assert.throws(() => verifyProofBundle({ ...made, proof: other.proof }, trust), { name: 'ProofError' })
      // The later checkpoint (40) with the path in the tree of 25.
      assert.throws(() => verifyProofBundle({ ...made, checkpoint: later.checkpoint }, trust), { name: 'ProofError' })
      // Entry 30, as seq 30, with the proof and checkpoint of seq 10 (a tree of 25 does not hold it).
      assert.throws(() => verifyProofBundle({ ...made, seq: 30, entry: later.entry }, trust), { name: 'ProofError' })
      // Entry 11, as seq 11, with the path of leaf 10.
      assert.throws(() => verifyProofBundle({ ...made, seq: 11, entry: other.entry }, trust), { name: 'ProofError' })
      // A path cut short or padded.
      assert.throws(() => verifyProofBundle({ ...made, proof: made.proof.slice(0, -1) }, trust), { name: 'ProofError' })
      assert.throws(() => verifyProofBundle({ ...made, proof: [...made.proof, made.proof[0]!] }, trust), {
        name: 'ProofError'
      })
      // The entry's own feed differs from the bundle's.
      assert.throws(() => verifyProofBundle({ ...made, feed: 'b'.repeat(52) }, trust), { name: 'ProofError' })
    })

    it('refuses malformed bundles: wrong type, extra or missing fields, bad types, oversize, non-base64', async () => {
      const made = await bundle(10)
      const malformed = { name: 'MalformedProofBundleError' }
      for (const value of [null, undefined, 'x', 42, [made], Object.assign(Object.create(null), made)]) {
        assert.throws(() => verifyProofBundle(value, trust), malformed)
      }
      assert.throws(() => verifyProofBundle({ ...made, extra: 1 }, trust), malformed)
      assert.throws(
        () => verifyProofBundle(JSON.parse(JSON.stringify(made).replace('{', '{"__proto__":{},')), trust),
        malformed
      )
      for (const field of ['format', 'feed', 'seq', 'entry', 'checkpoint', 'proof']) {
        const copy: Record<string, unknown> = { ...made }
        delete copy[field]
        assert.throws(() => verifyProofBundle(copy, trust), malformed, `without ${field}`)
      }
      const wrongTypes: Array<Record<string, unknown>> = [
        { format: 'fleet-proof/2' },
        { feed: 'A'.repeat(52) },
        { feed: 5 },
        { seq: '10' },
        { seq: -1 },
        { seq: 1.5 },
        { seq: 2 ** 53 },
        { entry: 5 },
        { entry: null },
        { checkpoint: Buffer.from(made.checkpoint) },
        { proof: made.proof.join(',') },
        { proof: [...made.proof.slice(1), 5] }
      ]
      for (const change of wrongTypes)
        assert.throws(
          () => verifyProofBundle({ ...made, ...change }, trust),
          malformed,
          JSON.stringify(change).slice(0, 60)
        )
      // Size caps.
      assert.throws(
        () => verifyProofBundle({ ...made, proof: Array.from({ length: 65 }, () => made.proof[0]!) }, trust),
        malformed
      )
      assert.throws(
        () => verifyProofBundle({ ...made, entry: Buffer.alloc(64 * 1024 + 1).toString('base64') }, trust),
        malformed
      )
      assert.throws(
        () => verifyProofBundle({ ...made, checkpoint: made.checkpoint + 'x'.repeat(16 * 1024) }, trust),
        malformed
      )
      // Base64: not base64, whitespace, non-canonical padding bits, hashes that are not 32 bytes.
      for (const entry of [
        '!!!!',
        `${made.entry.slice(0, 8)}\n${made.entry.slice(8)}`,
        ` ${made.entry}`,
        made.entry.replace(/=+$/, ''),
        'AB=='
      ]) {
        if (entry === made.entry) continue
        assert.throws(() => verifyProofBundle({ ...made, entry }, trust), malformed, entry.slice(0, 20))
      }
      const hash = made.proof[0]!
      for (const bad of [
        hash.slice(0, -1),
        `${hash.slice(0, -2)}B=`,
        Buffer.alloc(31).toString('base64'),
        Buffer.alloc(33).toString('base64'),
        '',
        hash.replace(/[A-Za-z]/, '-')
      ]) {
        assert.throws(() => verifyProofBundle({ ...made, proof: [bad, ...made.proof.slice(1)] }, trust), malformed, bad)
      }
      // A well-formed but empty entry, and an entry that does not decode: the entry's own errors.
      assert.throws(() => verifyProofBundle({ ...made, entry: '' }, trust), { name: 'MalformedCborError' })
      assert.throws(
        () => verifyProofBundle({ ...made, entry: Buffer.from('{"v":1}').toString('base64') }, trust),
        (err: Error) => err.name.startsWith('Malformed')
      )
    })

    it('never fails with anything but a typed error, whatever byte of the JSON is changed', async () => {
      const text = JSON.stringify(await bundle(20))
      const step = Math.max(1, Math.floor(text.length / 400))
      let refused = 0
      for (let at = 0; at < text.length; at += step) {
        let value: unknown
        try {
          value = JSON.parse(flipChar(text, at))
        } catch {
          continue
        }
        try {
          verifyProofBundle(value, trust)
        } catch (err) {
          assert.ok(
            !(err instanceof TypeError) &&
              !(err instanceof RangeError) &&
              typeof (err as { code?: unknown }).code === 'string',
            `byte ${at}: ${String(err)}`
          )
          refused++
          continue
        }
        assert.fail(`byte ${at}: a changed bundle verified`)
      }
      assert.ok(refused > 100)
    })
  })

  describe('ledger/proof export (JSONL)', () => {
    const exported = async (): Promise<string[]> => {
      const lines: string[] = []
      for await (const line of exportFeed(db, { feedId: feed })) lines.push(JSON.stringify(line))
      return lines
    }

    it('exports entries in order, then checkpoints, then an end line, and the export re-verifies like the store', async () => {
      const objects: ExportLine[] = []
      for await (const line of exportFeed(db, { feedId: feed })) objects.push(line)
      assert.equal(objects.length, 43 + 2 + 1)
      objects.slice(0, 43).forEach((line, seq) => {
        assert.equal(line.kind, 'entry')
        if (line.kind !== 'entry') return
        assert.equal(line.seq, seq)
        assert.equal(line.type, 'alert.tamper')
        assert.equal(line.time, clock.now())
        assert.equal(decodeEntry(Buffer.from(line.entry, 'base64')).entry.seq, seq)
      })
      assert.deepEqual(
        objects.slice(43, 45).map((l) => (l.kind === 'checkpoint' ? l.size : -1)),
        [25, 40]
      )
      assert.deepEqual(objects[45], { kind: 'end', feed, entries: 43, checkpoints: 2 })

      const lines = await exported()
      const report = await verifyExport(lines, exportTrust)
      assert.deepEqual(
        report,
        await verifyStoredFeed(db, { fleetId, feedId: feed, key: signer.publicKey, ontology: BASE_ONTOLOGY })
      )
      assert.deepEqual(
        { entries: report.entries, checkpoints: report.checkpoints, sealed: report.sealed },
        { entries: 43, checkpoints: 2, sealed: 40 }
      )
      // As a file's text (trailing newline), and as an async stream of lines.
      const text = `${lines.join('\n')}\n`
      assert.deepEqual(await verifyExport(text.split('\n'), exportTrust), report)
      async function* stream(): AsyncGenerator<string> {
        for (const line of lines) yield line
      }
      assert.deepEqual(await verifyExport(stream(), exportTrust), report)
    })

    it('counts the witnesses whose cosignatures on the exported checkpoints verify, and only those', async () => {
      const lines = await exported()
      const at = lines.findIndex((line) => line.includes('"size":40'))
      const line = JSON.parse(lines[at]!) as { kind: 'checkpoint'; size: number; note: string }
      const witness = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
      const name = 'w'.repeat(52)
      const cosigned = [...lines]
      cosigned[at] = JSON.stringify({ ...line, note: await cosignCheckpoint(line.note, witness, name) })
      const report = await verifyExport(cosigned, { ...exportTrust, witnesses: new Map([[name, witness.publicKey]]) })
      assert.deepEqual(
        { cosigners: report.cosigners, cosignedUpTo: report.cosignedUpTo },
        { cosigners: 1, cosignedUpTo: 40 }
      )
      // Without the witness's key, or under another key for that name, the cosignature counts for nothing.
      assert.equal((await verifyExport(cosigned, exportTrust)).cosigners, 0)
      assert.equal(
        (await verifyExport(cosigned, { ...exportTrust, witnesses: new Map([[name, stranger.publicKey]]) })).cosigners,
        0
      )
    })

    it('refuses the export under another key, fleet or feed', async () => {
      const lines = await exported()
      await assert.rejects(verifyExport(lines, { ...exportTrust, feedKey: stranger.publicKey }), {
        name: 'FeedVerificationError'
      })
      await assert.rejects(verifyExport(lines, { ...exportTrust, fleetId: new Uint8Array(32).fill(2) }), {
        name: 'FeedVerificationError'
      })
      await assert.rejects(verifyExport(lines, { ...exportTrust, feedId: 'b'.repeat(52) }), {
        name: 'FeedVerificationError'
      })
    })

    it('detects a changed character at the start, middle and end of every line, and across whole lines', async () => {
      const lines = await exported()
      let checks = 0
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!
        const step = Math.max(1, Math.floor(line.length / 6))
        const positions = new Set([0, line.length - 1, Math.floor(line.length / 2)])
        for (let at = 0; at < line.length; at += step) positions.add(at)
        for (const at of positions) {
          const changed = lines.slice()
          changed[i] = flipChar(line, at)
          await assert.rejects(
            verifyExport(changed, exportTrust),
            { name: 'FeedVerificationError' },
            `line ${i} char ${at}`
          )
          checks++
        }
      }
      assert.ok(checks > 300)
    })

    it('detects a dropped, duplicated, reordered or added line', async () => {
      const lines = await exported()
      for (let i = 0; i < lines.length; i++) {
        await assert.rejects(
          verifyExport([...lines.slice(0, i), ...lines.slice(i + 1)], exportTrust),
          { name: 'FeedVerificationError' },
          `without line ${i}`
        )
        await assert.rejects(
          verifyExport([...lines.slice(0, i + 1), ...lines.slice(i)], exportTrust),
          { name: 'FeedVerificationError' },
          `line ${i} twice`
        )
      }
      for (let i = 0; i + 1 < lines.length; i++) {
        const swapped = lines.slice()
        swapped[i] = lines[i + 1]!
        swapped[i + 1] = lines[i]!
        await assert.rejects(
          verifyExport(swapped, exportTrust),
          { name: 'FeedVerificationError' },
          `lines ${i} and ${i + 1} swapped`
        )
      }
      await assert.rejects(verifyExport([...lines, '{}'], exportTrust), { name: 'FeedVerificationError' })
      await assert.rejects(verifyExport([...lines.slice(0, 44), '', ...lines.slice(44)], exportTrust), {
        name: 'FeedVerificationError'
      })
      await assert.rejects(verifyExport([], exportTrust), { name: 'FeedVerificationError' })
    })

    it('enforces the line-length and line-count caps, and refuses lines that are not export lines', async () => {
      const lines = await exported()
      await assert.rejects(verifyExport(lines, exportTrust, { maxLines: 20 }), {
        name: 'FeedVerificationError',
        message: /more than 20 lines/
      })
      await assert.rejects(verifyExport(lines, exportTrust, { maxLineLength: 1000 }), {
        name: 'FeedVerificationError',
        message: /longer than 1000/
      })
      await assert.rejects(verifyExport(['x'.repeat(300 * 1024)], exportTrust), {
        name: 'FeedVerificationError',
        message: /longer than/
      })
      const first = JSON.parse(lines[0]!) as Record<string, unknown>
      for (const bad of [
        'null',
        '[]',
        '5',
        '"entry"',
        '{"kind":"entry"}',
        JSON.stringify({ ...first, extra: 1 }),
        JSON.stringify({ ...first, seq: '0' }),
        JSON.stringify({ ...first, entry: ` ${String(first.entry)}` }),
        JSON.stringify({ ...first, hash: String(first.hash).toUpperCase() })
      ]) {
        await assert.rejects(
          verifyExport([bad, ...lines.slice(1)], exportTrust),
          { name: 'FeedVerificationError' },
          bad.slice(0, 60)
        )
      }
    })
  })
})
