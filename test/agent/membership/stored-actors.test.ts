import assert from 'node:assert/strict'
import {
  FeedTrustError,
  MAX_EXPORTED_ACTOR_STATEMENTS,
  actorsFromHeader,
  type FeedIdentity
} from '../../../src/agent/index.js'

/** The shape of an export header's or proof file's `actors`, refused before any bundle is read. */
describe('agent/membership/stored-actors: the owner statements a header carries', () => {
  // The checks below refuse before the identity's genesis is read.
  const identity = {} as FeedIdentity

  it('no `actors`: an empty directory (an operator entry then does not verify)', () => {
    assert.deepEqual(actorsFromHeader(undefined, identity).list(), [])
  })

  it('refuses what is not a list of proof bundles, and more than the cap', () => {
    for (const value of [{}, 'bundles', 7, null])
      assert.throws(() => actorsFromHeader(value, identity), FeedTrustError, JSON.stringify(value))
    const tooMany = Array.from({ length: MAX_EXPORTED_ACTOR_STATEMENTS + 1 }, () => ({}))
    assert.throws(() => actorsFromHeader(tooMany, identity), /at most 128 proof bundles/)
    assert.throws(() => actorsFromHeader([{}, {}, {}], identity, {}, 2), /at most 2 proof bundles/)
  })
})
