/**
 * A short coverage-guided fuzzing run (Jazzer.js) of every decoder target in fuzz/, plus the
 * reproducers of earlier findings as regression cases. A decoder may only return or throw one of
 * the project's typed errors; any other error, a per-input timeout or a crash fails its target.
 * Longer runs: `npm run fuzz -- all --time 600`.
 */
import assert from 'node:assert/strict'
import { TARGETS } from '../../fuzz/corpus.js'
import { formatResult, fuzzTargets, type FuzzResult } from '../../fuzz/run.js'
import { fuzz as config } from '../../fuzz/targets/config.js'

const RUNS = Number(process.env.FLEET_FUZZ_RUNS ?? 1500)

describe('hardening/fuzz', function () {
  this.timeout(180_000)
  const names = Object.keys(TARGETS)
  let results: Map<string, FuzzResult> | undefined

  before(async function () {
    this.timeout(300_000)
    const list = await fuzzTargets(names, { runs: RUNS, seed: 1, parallel: 2 })
    results = new Map(list.map((r) => [r.target, r]))
  })

  for (const name of names) {
    it(`${name}: ${RUNS} fuzzed inputs give only typed errors`, () => {
      const r = results?.get(name)
      assert.ok(r !== undefined, 'the target did not run')
      assert.ok(r.ok, formatResult(r))
      assert.ok(r.runs >= RUNS, `only ${r.runs} inputs ran`)
    })
  }

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
  })
})
