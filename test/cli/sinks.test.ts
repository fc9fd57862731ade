/**
 * fleet run refuses a config whose sinks are wrong before it touches the TPM: exit 2 and one
 * line naming the field (a bad URL, http:// to another host, a CA file that is missing); and
 * how `fleet status` shows a sink.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { sinkLine } from '../../src/cli/commands/agent-status.js'
import { haveSwtpm, tempDir } from '../helpers/devices.js'
import { runFleet as run } from '../helpers/cli.js'

describe('cli: sinks in the agent config', function () {
  this.timeout(120_000)
  let dir: string
  let device: string
  let state: string

  before(async function () {
    if (!haveSwtpm()) this.skip()
    dir = await tempDir('fleet-cli-sinks-')
    device = path.join(dir, 'dev1')
    assert.equal(run(['swtpm', 'start', '--dir', device]).status, 0)
    assert.equal(run(['swtpm', 'boot', '--dir', device]).status, 0)
    state = path.join(dir, 'state')
    const init = run(['init', '--state', state, '--tcti', `swtpm:path=${path.join(device, 'tpm.sock')}`])
    assert.equal(init.status, 0, init.stderr)
  })
  after(() => {
    if (device !== undefined) run(['swtpm', 'stop', '--dir', device])
  })

  const refusals: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'a URL that is not one',
      { kind: 'webhook', name: 'soc', url: 'soc.example/events' },
      /sinks\[0\]\.url: is not a URL$/
    ],
    [
      'http:// to a remote host',
      { kind: 'webhook', name: 'soc', url: 'http://soc.example/events' },
      /sinks\[0\]\.url: http:\/\/ is allowed to 127\.0\.0\.1 or \[::1\] only/
    ],
    [
      'a CA file that is missing',
      { kind: 'webhook', name: 'soc', url: 'https://soc.example/events', caFile: 'soc-ca.pem' },
      /sinks\[0\]\.caFile: cannot read .*soc-ca\.pem: ENOENT$/
    ]
  ]
  for (const [name, sink, message] of refusals) {
    it(`refuses ${name}: exit 2, one line`, () => {
      const config = path.join(dir, 'fleet.json')
      writeFileSync(config, JSON.stringify({ sinks: [sink] }))
      const result = run(['run', '--state', state, '--config', config, '--once', '--listen', '/ip4/127.0.0.1/tcp/0'])
      assert.equal(result.status, 2, result.stderr)
      const lines = result.stderr.trim().split('\n')
      assert.equal(lines.length, 1, result.stderr)
      assert.match(lines[0]!, message)
      assert.doesNotMatch(result.stderr, /\n\s+at /)
    })
  }

  it('fleet status shows a sink: delivered, backlog, failures and the last error', () => {
    assert.equal(
      sinkLine({
        name: 'soc',
        kind: 'webhook',
        target: 'https://soc.example/events',
        delivered: 12,
        failed: 3,
        backlog: 40,
        lastSuccessAt: '2026-06-01T12:00:00.000Z',
        lastError: {
          message: 'could not deliver to https://soc.example: ECONNREFUSED',
          code: 'ERR_SINK_TRANSPORT',
          at: '2026-06-01T12:01:00.000Z'
        },
        retryAt: '2026-06-01T12:01:04.000Z'
      }),
      [
        'sink soc (webhook https://soc.example/events): 12 delivered, backlog 40, 3 failed tries; last delivery 2026-06-01T12:00:00.000Z',
        '  last error 2026-06-01T12:01:00.000Z: could not deliver to https://soc.example: ECONNREFUSED',
        '  next try 2026-06-01T12:01:04.000Z'
      ].join('\n')
    )
  })
})
