/** When a witness's refusal is a split view (split-view.ts), and how often one is recorded. */
import assert from 'node:assert/strict'
import { AlertLimiter, EXTERNAL_WITNESS_LIMITS, judgeRefusal } from '../../../src/agent/index.js'

describe('agent/external-witness: judging refusals', () => {
  it('retries a 409 once from the size the witness names, when the device signed that much', () => {
    assert.deepEqual(judgeRefusal({ status: 409, witnessSize: 7 }, { sent: 0, signed: 10, retried: false }), {
      kind: 'retry',
      from: 7
    })
    assert.deepEqual(judgeRefusal({ status: 409, witnessSize: 10 }, { sent: 3, signed: 10, retried: false }), {
      kind: 'retry',
      from: 10
    })
    assert.equal(judgeRefusal({ status: 409, witnessSize: 8 }, { sent: 7, signed: 10, retried: true }).kind, 'failed')
  })

  it('a 409 above anything the device signed is a split view, retried or not', () => {
    for (const retried of [false, true]) {
      const verdict = judgeRefusal({ status: 409, witnessSize: 11 }, { sent: 0, signed: 10, retried })
      assert.equal(verdict.kind, 'split-view')
      assert.equal(verdict.kind === 'split-view' && verdict.witnessSize, 11)
    }
  })

  it('a 422 to a proof from a size the device signed is a split view; from 0 or above it, a failure', () => {
    assert.equal(judgeRefusal({ status: 422 }, { sent: 4, signed: 10, retried: true }).kind, 'split-view')
    assert.equal(judgeRefusal({ status: 422 }, { sent: 10, signed: 10, retried: false }).kind, 'split-view')
    assert.equal(judgeRefusal({ status: 422 }, { sent: 11, signed: 10, retried: false }).kind, 'failed')
    assert.equal(
      judgeRefusal({ status: 422 }, { sent: 0, signed: 10, retried: false }).kind,
      'failed',
      'from the empty tree'
    )
  })

  it('records at most one alert per witness per interval, and a few over all witnesses per window', () => {
    const limits = EXTERNAL_WITNESS_LIMITS
    const limiter = new AlertLimiter()
    assert.equal(limiter.take('w1', 0), true)
    assert.equal(limiter.take('w1', limits.alertIntervalMs - 1), false)
    assert.equal(limiter.take('w1', limits.alertIntervalMs), true)
    const many = new AlertLimiter()
    const taken = Array.from({ length: 10 }, (_, i) => many.take(`w${i}`, i))
    assert.equal(taken.filter(Boolean).length, limits.maxAlertsPerWindow)
    assert.equal(many.take('w9', limits.alertWindowMs + 10), true, 'the window moved on')
  })
})
