import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { loadConfig, CONFIG_DEFAULTS } from '../../../src/agent/ops/config.js'
import { tempDir } from '../../helpers/devices.js'

describe('agent/config', () => {
  it('layers defaults < file < environment < flags', async () => {
    const dir = await tempDir()
    const file = path.join(dir, 'fleet.json')
    await writeFile(file, JSON.stringify({ state: '/var/lib/fleet', tcti: 'swtpm:path=/a', batchMs: 100, logLevel: 'debug' }))
    const config = await loadConfig({ file, env: { FLEET_TCTI: 'swtpm:path=/b', FLEET_MDNS: '0' }, flags: { logLevel: 'warn' } })
    assert.equal(config.state, '/var/lib/fleet')
    assert.equal(config.tcti, 'swtpm:path=/b')
    assert.equal(config.mdns, false)
    assert.equal(config.batchMs, 100)
    assert.equal(config.logLevel, 'warn')
    assert.equal(config.batchEntries, CONFIG_DEFAULTS.batchEntries)
  })

  const bad: Array<[string, Record<string, unknown>]> = [
    ['an unknown field', { state: '/s', tcit: 'typo' }],
    ['a PCR out of range', { state: '/s', bootPcrs: [0, 24] }],
    ['a duplicate PCR', { state: '/s', bootPcrs: [0, 0] }],
    ['an agent PCR outside 16..23', { state: '/s', agentPcr: 7 }],
    ['a bad log level', { state: '/s', logLevel: 'loud' }],
    ['a non-integer port', { state: '/s', metricsPort: 1.5 }],
    ['a listen address that is not a multiaddr', { state: '/s', listen: ['0.0.0.0:80'] }],
    ['an mDNS switch that is not a boolean', { state: '/s', mdns: 'sometimes' }],
    // The memory trim is gone (it did not lower the cgroup's memory.current: docs/benchmarks.md).
    ['the removed memory trim switch', { state: '/s', trimMemory: true }]
  ]
  for (const [name, values] of bad) {
    it(`refuses ${name} with ConfigError (exit 2)`, async () => {
      await assert.rejects(loadConfig({ flags: values }), (err: Error & { exitCode?: number }) => err.name === 'ConfigError' && err.exitCode === 2)
    })
  }

  it('refuses a config file that is not JSON, and a missing state directory', async () => {
    const dir = await tempDir()
    const file = path.join(dir, 'bad.json')
    await writeFile(file, '{ state: nope')
    await assert.rejects(loadConfig({ file }), { name: 'ConfigError' })
    await assert.rejects(loadConfig({}), { name: 'ConfigError' })
  })
})
