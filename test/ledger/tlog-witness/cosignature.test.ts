/**
 * cosignature/v1 and add-checkpoint bytes against test/vectors/tlog-witness (derived from the C2SP
 * texts and computed with OpenSSL, see its README), and the refusals of a witness's answer.
 */
import assert from 'node:assert/strict'
import { createPrivateKey, sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { projectRoot } from '../../../src/common/index.js'
import {
  cosignatureKeyId,
  cosignedMessage,
  cosignersAmong,
  encodeAddCheckpoint,
  formatWitnessKey,
  parseConflictSize,
  parseCosignatureLines,
  parseWitnessKey,
  verifyCosignature
} from '../../../src/ledger/index.js'

const vector = JSON.parse(
  readFileSync(path.join(projectRoot(import.meta.url), 'test/vectors/tlog-witness/cosignature-v1.json'), 'utf8')
) as Record<string, string>
const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'))
const key = parseWitnessKey(vector.vkey!)
const at = (seconds: number): { nowSeconds: number; notBeforeSeconds: number } => ({
  nowSeconds: seconds,
  notBeforeSeconds: seconds
})
const privateKey = createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(vector.seed!, 'hex')]),
  format: 'der',
  type: 'pkcs8'
})
/** A line by the vector's key over `text` at `timestamp`, with the signature bytes possibly changed. */
function line(text: string, timestamp: bigint, change = (_: Buffer): void => undefined): string {
  const time = Buffer.alloc(8)
  time.writeBigUInt64BE(timestamp)
  const signature = sign(null, cosignedMessage(text, timestamp), privateKey)
  change(signature)
  return `\u2014 ${vector.name} ${Buffer.concat([hex(vector.keyId!), time, signature]).toString('base64')}`
}

describe('ledger/tlog-witness: cosignature/v1', () => {
  it('computes the key ID, the signed message and the verifier key of the vector byte for byte', () => {
    assert.equal(Buffer.from(cosignatureKeyId(vector.name!, hex(vector.publicKey!))).toString('hex'), vector.keyId)
    assert.equal(Buffer.from(cosignedMessage(vector.checkpoint!, BigInt(vector.timestamp!))).toString(), vector.message)
    assert.equal(formatWitnessKey(vector.name!, hex(vector.publicKey!)), vector.vkey)
    assert.deepEqual(
      {
        name: key.name,
        keyId: Buffer.from(key.keyId).toString('hex'),
        key: Buffer.from(key.publicKey).toString('hex')
      },
      { name: vector.name, keyId: vector.keyId, key: vector.publicKey }
    )
  })

  it("verifies the vector's line (computed with OpenSSL), and takes its timestamp from it", () => {
    const verified = verifyCosignature([vector.line!], vector.checkpoint!, key, at(1679315147))
    assert.equal(verified.timestamp, 1679315147n)
    assert.equal(verified.line, vector.line)
    assert.equal(line(vector.checkpoint!, 1679315147n), vector.line)
  })

  it('ignores lines of other keys (another name, or another key ID under the name), as signed-note says', () => {
    const otherName = vector.line!.replace(vector.name!, 'witness.example.com/w2')
    const raw = Buffer.from(vector.line!.split(' ')[2]!, 'base64')
    raw[0]! ^= 1
    const otherId = `\u2014 ${vector.name} ${raw.toString('base64')}`
    const verified = verifyCosignature([otherName, otherId, vector.line!], vector.checkpoint!, key, at(1679315147))
    assert.equal(verified.line, vector.line)
    assert.throws(
      () => verifyCosignature([otherName, otherId], vector.checkpoint!, key, at(1679315147)),
      (err: Error) => err.name === 'CosignatureRejectedError' && /no line by its key/.test(err.message)
    )
  })

  it('refuses a forged signature, a cosignature over another checkpoint, and one of another length', () => {
    const refused = (lines: string[], reason: RegExp): void =>
      assert.throws(
        () => verifyCosignature(lines, vector.checkpoint!, key, at(1679315147)),
        (err: Error) => err.name === 'CosignatureRejectedError' && reason.test(err.message)
      )
    refused(
      [
        line(vector.checkpoint!, 1679315147n, (s) => {
          s[3]! ^= 0x40
        })
      ],
      /does not verify/
    )
    refused([line(vector.checkpoint!.replace('20852163', '20852164'), 1679315147n)], /does not verify/)
    refused([`${vector.line!.slice(0, -4)}AAAAAAA=`], /bytes, not 76/)
    refused([line(vector.checkpoint!, 0n)], /out of range/)
    refused([vector.line!, vector.line!], /more than one line/)
  })

  it('refuses a timestamp in the future and one from before the request (a replay), beyond the allowed skew', () => {
    const t = 1679315147
    assert.throws(
      () => verifyCosignature([vector.line!], vector.checkpoint!, key, at(t - 301)),
      (err: Error) => err.name === 'CosignatureRejectedError' && /in the future/.test(err.message)
    )
    assert.throws(
      () =>
        verifyCosignature([vector.line!], vector.checkpoint!, key, {
          nowSeconds: t + 7200,
          notBeforeSeconds: t + 3600
        }),
      (err: Error) => err.name === 'CosignatureRejectedError' && /older than the request/.test(err.message)
    )
    // Within the skew either way.
    verifyCosignature([vector.line!], vector.checkpoint!, key, at(t - 299))
    verifyCosignature([vector.line!], vector.checkpoint!, key, { nowSeconds: t + 10, notBeforeSeconds: t + 299 })
  })

  it('counts the cosigners of a stored note whatever their time, and not those whose line fails', () => {
    assert.deepEqual(cosignersAmong([vector.line!], vector.checkpoint!, [key]), [vector.name])
    assert.deepEqual(cosignersAmong([vector.line!], vector.checkpoint!.replace('2085', '2086'), [key]), [])
  })

  it('refuses verifier keys that are not Ed25519 cosignature/v1 keys', () => {
    const bad = (vkey: string, reason: RegExp): void =>
      assert.throws(
        () => parseWitnessKey(vkey),
        (err: Error) => err.name === 'MalformedVerifierKeyError' && reason.test(err.message)
      )
    // The base64 key may hold '+'; the name and key ID never do.
    const [name, id] = vector.vkey!.split('+') as [string, string]
    const material = vector.vkey!.slice(name.length + id.length + 2)
    assert.match(material, /\+/, "the vector's key holds a '+'")
    bad(`${name}+${id}`, /name\+keyid\+key/)
    bad(`${name}+00000000+${material}`, /does not match/)
    const ed25519Note = Buffer.from(material, 'base64')
    ed25519Note[0] = 0x01
    bad(`${name}+${id}+${ed25519Note.toString('base64')}`, /type 0x04/)
    bad(` +${id}+${material}`, /whitespace/)
  })
})

describe('ledger/tlog-witness: add-checkpoint', () => {
  it("encodes the request as the spec's example: old size line, proof lines, an empty line, the note", () => {
    const proof = [
      'PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=',
      'jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=',
      '5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=',
      '/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0='
    ]
    const note = `${vector.checkpoint}\n\u2014 example.com/behind-the-sofa Az3g\n`
    assert.equal(
      encodeAddCheckpoint({ oldSize: 20852014, proof: proof.map((p) => Buffer.from(p, 'base64')), note }),
      `old 20852014\n${proof.join('\n')}\n\n${note}`
    )
    assert.equal(encodeAddCheckpoint({ oldSize: 0, proof: [], note }), `old 0\n\n${note}`)
    assert.throws(() => encodeAddCheckpoint({ oldSize: 1, proof: new Array(64).fill(new Uint8Array(32)), note }))
  })

  it("reads a 409's size only as text/x.tlog.size with one decimal line", () => {
    assert.equal(parseConflictSize('20852014\n', 'text/x.tlog.size'), 20852014)
    assert.equal(parseConflictSize('0\n', 'text/x.tlog.size; charset=utf-8'), 0)
    for (const [body, type] of [
      ['20852014\n', 'text/plain'],
      ['20852014', 'text/x.tlog.size'],
      ['020852014\n', 'text/x.tlog.size'],
      ['-1\n', 'text/x.tlog.size'],
      ['99999999999999999999\n', 'text/x.tlog.size']
    ] as const)
      assert.throws(
        () => parseConflictSize(body, type),
        (err: Error) => err.name === 'MalformedWitnessResponseError'
      )
  })

  it("reads a 200's signature lines, refusing anything else", () => {
    assert.deepEqual(parseCosignatureLines(`${vector.line}\n`), [vector.line])
    for (const body of [
      '',
      `${vector.line}`,
      'hello\n',
      '\u2014 name\n',
      `${vector.line}\n\n`,
      `${vector.line}\n`.repeat(17)
    ])
      assert.throws(
        () => parseCosignatureLines(body),
        (err: Error) => err.name === 'MalformedWitnessResponseError'
      )
  })
})
