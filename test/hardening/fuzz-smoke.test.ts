/**
 * A short coverage-guided fuzzing run (Jazzer.js) of every decoder target in fuzz/, plus the
 * reproducers of earlier findings as regression cases. A decoder may only return or throw one of
 * the project's typed errors; any other error, a per-input timeout or a crash fails its target.
 * Longer runs: `npm run fuzz -- all --time 600`.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { TARGETS } from '../../fuzz/corpus.js'
import { formatResult, fuzzTarget, fuzzTargets, type FuzzResult } from '../../fuzz/run.js'
import { fuzz as config } from '../../fuzz/targets/config.js'
import { fuzz as ekCertificate } from '../../fuzz/targets/ek-certificate.js'

const RUNS = Number(process.env.FLEET_FUZZ_RUNS ?? 1500)

describe('hardening/fuzz', function () {
  this.timeout(180_000)
  const names = Object.keys(TARGETS)
  let results: Map<string, FuzzResult> | undefined

  before(async function () {
    this.timeout(300_000)
    const list = await fuzzTargets(names, { runs: RUNS, seed: 1, parallel: 2 })
    results = new Map(list.map((r) => [r.target, r]))
    // A session that ended short of its runs without a finding was resumed; show why it ended.
    for (const r of list) if (r.earlyEnds !== undefined) console.log(formatResult(r))
  })

  for (const name of names) {
    it(`${name}: ${RUNS} fuzzed inputs give only typed errors`, () => {
      const r = results?.get(name)
      assert.ok(r !== undefined, 'the target did not run')
      assert.ok(r.ok, formatResult(r))
      assert.ok(r.runs >= RUNS, `only ${r.runs} inputs ran\n${formatResult(r)}`)
    })
  }

  describe('sessions', () => {
    let work: string
    beforeEach(() => {
      work = mkdtempSync(path.join(tmpdir(), 'fleet-fuzz-work-'))
    })
    afterEach(() => rmSync(work, { recursive: true, force: true }))

    it('a session that ends without a finding short of its runs is resumed, and each such end is reported', async () => {
      // libFuzzer exits 0 as soon as its corpus holds the unit named by -exit_on_item: here the
      // smallest seed, which it runs first and always keeps, so every session ends among its seeds.
      const seeds = await TARGETS.tcti!.generate()
      const smallest = seeds.reduce((a, b) => (b.length < a.length ? b : a))
      assert.equal(
        seeds.filter((s) => s.length === smallest.length).length,
        1,
        'the smallest tcti seed is not the only one of its size'
      )
      const item = createHash('sha1').update(smallest).digest('hex')
      const r = await fuzzTarget('tcti', { runs: 1000, seed: 1, work, libFuzzerFlags: [`-exit_on_item=${item}`] })
      assert.equal(r.ok, true, formatResult(r))
      assert.ok(r.runs < 1000, `runs ${r.runs}`)
      assert.equal(r.earlyEnds?.length, 4, formatResult(r))
      for (const end of r.earlyEnds!) assert.match(end, new RegExp(`found item with checksum '${item}', exiting`))
      assert.match(formatResult(r), /session ended with exit 0 after \d+ of 1000 runs/)

      const whole = await fuzzTarget('tcti', { runs: 300, seed: 1, work })
      assert.equal(whole.ok, true, formatResult(whole))
      assert.equal(whole.earlyEnds, undefined)
      assert.ok(whole.runs >= 300, formatResult(whole))
    })
  })

  describe('regressions', () => {
    // Found by the config target: config file fields are looked up on a plain object, so a key that
    // names an Object.prototype member ("constructor", "__proto__", "toString") yields a spec without
    // `check`, and apply() throws TypeError: spec.check is not a function.
    it('config crash-6cc6bc90: {"constructor":false} (7b22636f6e7374727563746f72223a66616c73657d)', async () => {
      await config(Buffer.from('7b22636f6e7374727563746f72223a66616c73657d', 'hex'))
    })
    it('config crash-6cc6bc90 variant: {"__proto__":1} (7b225f5f70726f746f5f5f223a317d)', async () => {
      await config(Buffer.from('7b225f5f70726f746f5f5f223a317d', 'hex'))
    })
    // Found by the ek-certificate target: a certificate node:crypto parses, whose public key it
    // cannot decode (a changed curve OID), made X509Certificate.publicKey throw an untyped error.
    it('ek-certificate crash-056e1dfe: an unreadable public key is a MalformedCertificateError', () => {
      ekCertificate(
        Buffer.from(
          [
            '308201aa30820150a003020102021411e8856cae308902881a1475d4ddd8ae42bfe212300a06082a8648ce3d044a0230',
            '003020170d3236313230353132313832315a180f32313236313131313132313832315a30003059301306072a8648ce3d',
            '020106082a8648ce3d03010703420004360a09a8ed1d028c5c8c298b261b0ecbe81f037226a6571db5a29924650b5438',
            '967f7c3c6899043044fb8a6f7b88963ab3822d45523f8c5705513efa118d9148a381a53081a2300c0603551d130101ff',
            '04023000300e0603551d0f0101ff04040302030830100603551d25040930070605678105080130510603551d110101ff',
            '04473045a443304131163014060567810502010c0b69643a3030303031303134310f300d060567810502020c0466757a',
            '7a31163014060567810502030c0b69643a3030303030303031301d0603551d0e0416041487efb0f8d35ffa9aff71b5dd',
            'c088e14103c24757300a06082a8648ce3d040302034800304502210083f68b27541354fb83e545082b4b4cec3531184e',
            'cd415dc2088b25da1cb23ecc02207091f6ac4d20a76a1f1e54dd765b3b1ad0a2d10c6c175590f1ddeeddc5fe81d0'
          ].join(''),
          'hex'
        )
      )
    })
  })
})
