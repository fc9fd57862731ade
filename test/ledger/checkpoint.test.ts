import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import {
  signCheckpoint, cosignCheckpoint, parseCheckpoint, peekCheckpoint, verifyCheckpoint, formatCheckpointBody, type CheckpointBody
} from '../../src/ledger/index.js'

const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const witness = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const feed = 'a'.repeat(52)
const body: CheckpointBody = {
  origin: `fleet/${'f1'.repeat(32)}/${feed}`,
  size: 1234,
  root: new Uint8Array(32).fill(7),
  epoch: 3,
  tpm: { clock: 123456789n, resetCount: 4, restartCount: 0 },
  peers: [{ feed: 'b'.repeat(52), size: 99, root: new Uint8Array(32).fill(9) }]
}
const key = { name: feed, key: signer.publicKey }

describe('ledger/checkpoint (C2SP signed note, hybrid signatures)', () => {
  it('round-trips: body text, two signature lines, verified by the feed key', async () => {
    const note = await signCheckpoint(body, signer, feed)
    assert.ok(note.startsWith(formatCheckpointBody(body) + '\n\u2014 '))
    assert.equal(note.split('\n').filter((l) => l.startsWith('\u2014 ')).length, 2)
    const verified = verifyCheckpoint(parseCheckpoint(note), key)
    assert.equal(verified.body.size, 1234)
    assert.equal(verified.body.tpm.clock, 123456789n)
    assert.deepEqual(verified.body.peers[0]?.size, 99)
  })

  it('refuses a changed byte anywhere in the body or either signature line', async () => {
    const note = await signCheckpoint(body, signer, feed)
    let bySignature = 0
    const positions = [note.indexOf('1234'), note.indexOf('epoch') + 6, note.indexOf('tpm') + 4, note.lastIndexOf('\u2014') - 10, note.length - 10, note.indexOf('\u2014') + feed.length + 10]
    for (const at of positions) {
      const character = note[at]!
      const changed = note.slice(0, at) + (character === 'A' ? 'B' : character === '1' ? '2' : 'A') + note.slice(at + 1)
      assert.throws(() => verifyCheckpoint(parseCheckpoint(changed), key), (err: Error) => {
        if (err.name === 'CheckpointSignatureError') bySignature++
        return ['CheckpointSignatureError', 'MalformedCheckpointError'].includes(err.name)
      }, `position ${at}`)
    }
    assert.ok(bySignature >= 3, `only ${bySignature} changes were caught by the signatures`)
  })

  it('needs both halves: one signature line alone, or a half by another key, is refused', async () => {
    const note = await signCheckpoint(body, signer, feed)
    const lines = note.split('\n')
    const onlyFirst = lines.filter((l, i) => !(l.startsWith('\u2014') && i === lines.length - 2)).join('\n')
    assert.throws(() => verifyCheckpoint(parseCheckpoint(onlyFirst), key), { name: 'CheckpointSignatureError' })
    const other = await signCheckpoint(body, witness, feed)
    const mixed = note.split('\n\u2014')[0] + '\n\u2014' + note.split('\n\u2014')[1] + '\n\u2014' + other.split('\n\u2014')[2]
    assert.throws(() => verifyCheckpoint(parseCheckpoint(mixed), key), { name: 'CheckpointSignatureError' })
    assert.throws(() => verifyCheckpoint(parseCheckpoint(other), key), { name: 'CheckpointSignatureError' })
  })

  it('counts valid cosignatures by known witnesses, and ignores forged ones', async () => {
    const note = await signCheckpoint(body, signer, feed)
    const witnessName = 'c'.repeat(52)
    const cosigned = await cosignCheckpoint(note, witness, witnessName)
    const witnesses = new Map([[witnessName, witness.publicKey]])
    assert.deepEqual(verifyCheckpoint(parseCheckpoint(cosigned), key, witnesses).cosigners, [witnessName])
    // A "cosignature" made with the checkpoint domain is not a cosignature.
    const forged = await signCheckpoint(body, witness, witnessName)
    const withForged = note + forged.slice(forged.indexOf('\n\n') + 2)
    assert.deepEqual(verifyCheckpoint(parseCheckpoint(withForged), key, witnesses).cosigners, [])
  })

  it('peekCheckpoint: the signed text, size and signer names without decoding; undefined for another shape', async () => {
    const note = await signCheckpoint(body, signer, feed)
    const cosigned = await cosignCheckpoint(note, witness, 'c'.repeat(52))
    const peeked = peekCheckpoint(cosigned)!
    assert.equal(peeked.text, parseCheckpoint(cosigned).text)
    assert.equal(peeked.size, 1234)
    assert.deepEqual([...peeked.names], [feed, 'c'.repeat(52)])
    for (const bad of ['', 'no blank line', note.replace('\n1234\n', '\n01234\n'), note + 'trailing text without a newline', note + 'x\n']) {
      assert.equal(peekCheckpoint(bad), undefined, JSON.stringify(bad.slice(-40)))
    }
  })

  const malformed = [
    '', 'no blank line\n', `fleet/x/y\n1\nAAAA\nepoch 0\ntpm 0 0 0\n\n\u2014 a AAAAAAAA\n`,
    `${formatCheckpointBody(body)}`, `${formatCheckpointBody({ ...body, peers: [] }).replace('epoch 3', 'epoch 03')}\n\u2014 k AAAAAAAA\n`,
    `${formatCheckpointBody(body)}extra line\n\n\u2014 k AAAAAAAA\n`, `${formatCheckpointBody(body)}\n- k AAAAAAAA\n`,
    `${formatCheckpointBody(body)}\n\u2014 k ${'A'.repeat(7000)}\n`
  ]
  malformed.forEach((note, i) => {
    it(`refuses malformed note #${i} with MalformedCheckpointError`, () => {
      assert.throws(() => parseCheckpoint(note), { name: 'MalformedCheckpointError' })
    })
  })
})
