/** How a part of the agent that could not start is reported: one line naming what is taken. */
import assert from 'node:assert/strict'
import type { AgentStartError } from '../../src/agent/index.js'
import { startFailure } from '../../src/agent/start-error.js'
import { FleetError } from '../../src/common/index.js'

describe('agent: a start that fails', () => {
  it('names a port in use (metrics, approvals) and a listen address libp2p could not take', () => {
    const port = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:9464'), {
      code: 'EADDRINUSE',
      address: '127.0.0.1',
      port: 9464
    })
    const metrics = startFailure(port) as AgentStartError
    assert.equal(metrics.name, 'AgentStartError')
    assert.equal(metrics.exitCode, 1)
    assert.match(metrics.message, /^127\.0\.0\.1:9464 is in use by another program: .*metricsPort/)
    const listen = startFailure(
      new Error(
        'Some configured addresses failed to be listened on:\n\n  /ip4/127.0.0.1/tcp/4001: Error: listen EADDRINUSE: address already in use\n      at Server.setupListenHandle'
      )
    ) as AgentStartError
    assert.match(listen.message, /^listen address \/ip4\/127\.0\.0\.1\/tcp\/4001 is in use/)
    assert.doesNotMatch(listen.message, /setupListenHandle/)
  })

  it('leaves typed errors and unrelated failures as they are', () => {
    const typed = new FleetError('already typed', { code: 'ERR_X' })
    assert.equal(startFailure(typed), typed)
    const other = new Error('something else')
    assert.equal(startFailure(other), other)
  })
})
