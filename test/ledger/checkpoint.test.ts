import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import {
  signCheckpoint,
  cosignCheckpoint,
  parseCheckpoint,
  peekCheckpoint,
  verifyCheckpoint,
  formatCheckpointBody,
  keyId,
  checkpointKeyIds,
  CHECKPOINT_LIMITS,
  CHECKPOINT_FORMAT_VERSION,
  SIGNATURE_TYPES,
  type CheckpointBody
} from '../../src/ledger/index.js'
import { asVersion1, version1KeyIds } from './checkpoint-v1.js'

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
    assert.ok(note.startsWith(`${formatCheckpointBody(body)}\n\u2014 `))
    assert.equal(note.split('\n').filter((l) => l.startsWith('\u2014 ')).length, 2)
    const verified = verifyCheckpoint(parseCheckpoint(note), key)
    assert.equal(verified.body.size, 1234)
    assert.equal(verified.body.tpm.clock, 123456789n)
    assert.deepEqual(verified.body.peers[0]?.size, 99)
  })

  it('refuses a changed byte anywhere in the body or either signature line', async () => {
    const note = await signCheckpoint(body, signer, feed)
    let bySignature = 0
    const positions = [
      note.indexOf('1234'),
      note.indexOf('epoch') + 6,
      note.indexOf('tpm') + 4,
      note.lastIndexOf('\u2014') - 10,
      note.length - 10,
      note.indexOf('\u2014') + feed.length + 10
    ]
    for (const at of positions) {
      const character = note[at]!
      const changed = note.slice(0, at) + (character === 'A' ? 'B' : character === '1' ? '2' : 'A') + note.slice(at + 1)
      assert.throws(
        () => verifyCheckpoint(parseCheckpoint(changed), key),
        (err: Error) => {
          if (err.name === 'CheckpointSignatureError') bySignature++
          return ['CheckpointSignatureError', 'MalformedCheckpointError'].includes(err.name)
        },
        `position ${at}`
      )
    }
    assert.ok(bySignature >= 3, `only ${bySignature} changes were caught by the signatures`)
  })

  it('needs both halves: one signature line alone, or a half by another key, is refused', async () => {
    const note = await signCheckpoint(body, signer, feed)
    const lines = note.split('\n')
    const onlyFirst = lines.filter((l, i) => !(l.startsWith('\u2014') && i === lines.length - 2)).join('\n')
    assert.throws(() => verifyCheckpoint(parseCheckpoint(onlyFirst), key), { name: 'CheckpointSignatureError' })
    const other = await signCheckpoint(body, witness, feed)
    const mixed = `${note.split('\n\u2014')[0]}\n\u2014${note.split('\n\u2014')[1]}\n\u2014${other.split('\n\u2014')[2]}`
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
    for (const bad of [
      '',
      'no blank line',
      note.replace('\n1234\n', '\n01234\n'),
      `${note}trailing text without a newline`,
      `${note}x\n`
    ]) {
      assert.equal(peekCheckpoint(bad), undefined, JSON.stringify(bad.slice(-40)))
    }
  })

  const malformed = [
    '',
    'no blank line\n',
    `fleet/x/y\n1\nAAAA\nepoch 0\ntpm 0 0 0\n\n\u2014 a AAAAAAAA\n`,
    `${formatCheckpointBody(body)}`,
    `${formatCheckpointBody({ ...body, peers: [] }).replace('epoch 3', 'epoch 03')}\n\u2014 k AAAAAAAA\n`,
    `${formatCheckpointBody(body)}extra line\n\n\u2014 k AAAAAAAA\n`,
    `${formatCheckpointBody(body)}\n- k AAAAAAAA\n`,
    `${formatCheckpointBody(body)}\n\u2014 k ${'A'.repeat(4 * Math.ceil((4 + CHECKPOINT_LIMITS.maxSignatureBytes) / 3) + 4)}\n`,
    `${formatCheckpointBody(body)}\n\u2014 k AAAA\n`,
    `${formatCheckpointBody(body)}\n\u2014 k AAAAAAA\n`,
    `${formatCheckpointBody(body)}\n\u2014 k AAAAAAAA \n`,
    `${formatCheckpointBody(body)}\n\u2014 k\tx AAAAAAAA\n`,
    `${formatCheckpointBody(body)}\n\u2014  AAAAAAAA\n`,
    `${formatCheckpointBody(body)}\n\u2014 a+b AAAAAAAA\n`,
    `${formatCheckpointBody(body)}\n\u2014 a\u00a0b AAAAAAAA\n`,
    `${formatCheckpointBody(body)}\n\u2014 ${'n'.repeat(CHECKPOINT_LIMITS.maxKeyNameBytes + 1)} AAAAAAAA\n`,
    `${formatCheckpointBody(body)}\n\u2014 k\u0001 AAAAAAAA\n`,
    `${formatCheckpointBody(body)}\n\u2014 k\ud800 AAAAAAAA\n`
  ]
  describe(`format version ${CHECKPOINT_FORMAT_VERSION}: C2SP signature type 0xff followed by a longer identifier`, () => {
    // Fixed public keys: the key IDs depend only on the name, the signature type and the key bytes.
    const fixed = {
      p256: Uint8Array.from([4, ...new Array<number>(64).fill(0x11)]),
      mldsa65: new Uint8Array(1952).fill(0x22)
    }

    it('golden key IDs: type = 0xFF ‖ SHA-256(identifier); keyId = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[0:4]', () => {
      assert.deepEqual(SIGNATURE_TYPES, {
        p256: 'fleet-agent/checkpoint/v2/hybrid-ecdsa-p256-sha256',
        mldsa65: 'fleet-agent/checkpoint/v2/hybrid-ml-dsa-65'
      })
      // type bytes (0xFF, then SHA-256 of the identifier):
      const p256Type = Buffer.from('ff2db1f44b46fdf6a93decda3e731310d63bf81896ed23f26e26b154cc57de06a0', 'hex')
      const mldsaType = Buffer.from('ffd18ba4b33a7bd60be401c2eda4395b679dfa804ab15ccd0677ebc723e13c7559', 'hex')
      const ids = checkpointKeyIds(feed, fixed)
      // SHA-256('a'×52 ‖ 0A ‖ p256Type ‖ 04 11…11)[0:4] and SHA-256('a'×52 ‖ 0A ‖ mldsaType ‖ 22…22)[0:4]:
      assert.equal(Buffer.from(ids.p256).toString('hex'), 'c9baf756')
      assert.equal(Buffer.from(ids.mldsa65).toString('hex'), 'e1ed0576')
      assert.deepEqual(ids.p256, keyId(feed, p256Type, fixed.p256))
      assert.deepEqual(ids.mldsa65, keyId(feed, mldsaType, fixed.mldsa65))
      // Version 1 (refused): the private type bytes 0x81 and 0x82 in place of the two types above.
      const old = version1KeyIds(feed, fixed)
      assert.deepEqual(
        [Buffer.from(old.p256).toString('hex'), Buffer.from(old.mldsa65).toString('hex')],
        ['8167c375', '8b6094d0']
      )
    })

    it('a signed note carries, on each line, the version-2 key ID of its key', async () => {
      const note = await signCheckpoint(body, signer, feed)
      const ids = checkpointKeyIds(feed, signer.publicKey)
      assert.deepEqual(
        parseCheckpoint(note).signatures.map((line) => [
          line.name,
          Buffer.from(line.keyId).toString('hex'),
          line.signature.length
        ]),
        [
          [feed, Buffer.from(ids.p256).toString('hex'), 64],
          [feed, Buffer.from(ids.mldsa65).toString('hex'), 3309]
        ]
      )
    })

    it('a checkpoint in format version 1 (private signature types 0x81/0x82) is refused with CheckpointVersionError naming the version', async () => {
      const old = asVersion1(await signCheckpoint(body, signer, feed), feed, signer.publicKey)
      assert.notEqual(old, await signCheckpoint(body, signer, feed))
      assert.throws(
        () => verifyCheckpoint(parseCheckpoint(old), key),
        (err: Error & { version: number; supported: number; keyName: string; exitCode: number }) => {
          assert.equal(err.name, 'CheckpointVersionError')
          assert.deepEqual([err.version, err.supported, err.keyName, err.exitCode], [1, 2, feed, 2])
          assert.match(err.message, /checkpoint format version 1/)
          return true
        }
      )
      // A version-1 cosignature is a line by an unknown key: ignored, not counted.
      const witnessName = 'c'.repeat(52)
      const cosigned = await cosignCheckpoint(await signCheckpoint(body, signer, feed), witness, witnessName)
      assert.deepEqual(
        verifyCheckpoint(
          parseCheckpoint(asVersion1(cosigned, witnessName, witness.publicKey)),
          key,
          new Map([[witnessName, witness.publicKey]])
        ).cosigners,
        []
      )
    })

    it('key names with "+", whitespace or nothing are neither signed with nor parsed', async () => {
      for (const name of ['a+b', 'witness.example/key+1', 'a b', '', 'tab\tname']) {
        await assert.rejects(
          signCheckpoint(body, signer, name),
          { name: 'MalformedCheckpointError' },
          JSON.stringify(name)
        )
        await assert.rejects(
          cosignCheckpoint(await signCheckpoint(body, signer, feed), witness, name),
          { name: 'MalformedCheckpointError' },
          JSON.stringify(name)
        )
      }
      const note = await signCheckpoint(body, signer, feed)
      assert.throws(() => parseCheckpoint(`${note}\u2014 plus+name AAAAAAAA\n`), { name: 'MalformedCheckpointError' })
    })

    it('accepts at least 16 signature lines of post-quantum size: lines by unknown keys (any name the spec allows, up to the caps) are ignored', async () => {
      const note = await signCheckpoint(body, signer, feed)
      const line = (name: string, size: number, fill: number): string =>
        `\u2014 ${name} ${Buffer.concat([Buffer.of(1, 2, 3, 4), Buffer.alloc(size, fill)]).toString('base64')}\n`
      // 16 lines by keys this verifier does not know: ML-DSA-65 (3309), ML-DSA-87 (4627), SLH-DSA-128s (7856) sizes, one Ed25519.
      const sizes = [3309, 3309, 3309, 3309, 4627, 4627, 4627, 4627, 3309, 3309, 3309, 3309, 4627, 4627, 7856, 64]
      const names = sizes.map((_, i) =>
        i % 3 === 0 ? `witness.example/é${i}` : i % 3 === 1 ? `sigsum.org/v1/${i}` : `${'d'.repeat(52)}${i}`
      )
      const crowded = note + sizes.map((size, i) => line(names[i]!, size, i)).join('')
      assert.ok(Buffer.byteLength(crowded) > 64 * 1024)
      const parsed = parseCheckpoint(crowded)
      assert.equal(parsed.signatures.length, 18)
      assert.deepEqual(verifyCheckpoint(parsed, key, new Map([['c'.repeat(52), witness.publicKey]])).cosigners, [])
      // A line sharing the feed's name but not its key ID, or its key ID but not its name, is a line by another key.
      const ids = checkpointKeyIds(feed, signer.publicKey)
      const sameName = `\u2014 ${feed} ${Buffer.concat([Buffer.of(9, 9, 9, 9), Buffer.alloc(3309, 1)]).toString('base64')}\n`
      const sameId = `\u2014 other.example ${Buffer.concat([ids.mldsa65, Buffer.alloc(3309, 1)]).toString('base64')}\n`
      verifyCheckpoint(parseCheckpoint(note + sameName + sameId), key)
      // At the caps: the largest signature allowed parses; one more byte, one more line, or a larger note does not.
      parseCheckpoint(note + line('big.example', CHECKPOINT_LIMITS.maxSignatureBytes, 7))
      assert.throws(() => parseCheckpoint(note + line('big.example', CHECKPOINT_LIMITS.maxSignatureBytes + 3, 7)), {
        name: 'MalformedCheckpointError'
      })
      const many =
        note + Array.from({ length: CHECKPOINT_LIMITS.maxSignatureLines - 2 }, (_, i) => line(`k${i}`, 1, i)).join('')
      assert.equal(parseCheckpoint(many).signatures.length, CHECKPOINT_LIMITS.maxSignatureLines)
      assert.throws(() => parseCheckpoint(many + line('one.more', 1, 0)), {
        name: 'MalformedCheckpointError',
        message: /signature lines/
      })
      const huge =
        note + Array.from({ length: 24 }, (_, i) => line(`huge${i}`, CHECKPOINT_LIMITS.maxSignatureBytes, i)).join('')
      assert.ok(Buffer.byteLength(huge) > CHECKPOINT_LIMITS.maxNoteBytes)
      assert.throws(() => parseCheckpoint(huge), { name: 'MalformedCheckpointError', message: /too large/ })
    })

    it('16 cosigner pairs (32 ML-DSA-65 and P-256 lines) by known witnesses all verify and are counted', async () => {
      let note = await signCheckpoint(body, signer, feed)
      const witnesses = new Map<string, typeof witness.publicKey>()
      for (let i = 0; i < 16; i++) {
        const cosigner = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
        const name = `witness-${i}.example`
        witnesses.set(name, cosigner.publicKey)
        note = await cosignCheckpoint(note, cosigner, name)
      }
      const parsed = parseCheckpoint(note)
      assert.equal(parsed.signatures.length, 34)
      assert.deepEqual([...verifyCheckpoint(parsed, key, witnesses).cosigners].sort(), [...witnesses.keys()].sort())
    })
  })

  malformed.forEach((note, i) => {
    it(`refuses malformed note #${i} with MalformedCheckpointError`, () => {
      assert.throws(() => parseCheckpoint(note), { name: 'MalformedCheckpointError' })
    })
  })
})
