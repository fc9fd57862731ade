import assert from 'node:assert/strict'
import { PeerHeads } from '../../../src/agent/replication/peer-heads.js'
import { SYNC_LIMITS } from '../../../src/ledger/index.js'

describe('agent/peer-heads: what each peer said it holds', () => {
  it('keeps the most a peer said per feed, answers holds() by it, and forgets the peer', () => {
    const heads = new PeerHeads()
    heads.learn('p', [
      ['f', 10],
      ['g', 3]
    ])
    heads.learn('p', [['f', 7]])
    assert.equal(heads.holds('p', 'f', 10), true)
    assert.equal(heads.holds('p', 'f', 11), false)
    assert.equal(heads.holds('p', 'g', 3), true)
    assert.equal(heads.holds('p', 'h', 0), false)
    assert.equal(heads.holds('q', 'f', 0), false)
    heads.forget('p')
    assert.equal(heads.holds('p', 'f', 1), false)
  })

  it('remembers at most SYNC_LIMITS.maxFeeds feeds a peer (a peer naming more is not believed about the rest)', () => {
    const heads = new PeerHeads()
    heads.learn(
      'p',
      Array.from({ length: SYNC_LIMITS.maxFeeds + 5 }, (_, i): [string, number] => [`feed-${i}`, 1])
    )
    assert.equal(heads.holds('p', `feed-${SYNC_LIMITS.maxFeeds - 1}`, 1), true)
    assert.equal(heads.holds('p', `feed-${SYNC_LIMITS.maxFeeds}`, 1), false)
    heads.learn('p', [['feed-0', 9]])
    assert.equal(heads.holds('p', 'feed-0', 9), true)
  })
})
