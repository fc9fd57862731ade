import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { loadConfig, CONFIG_DEFAULTS } from '../../../src/agent/ops/config.js'
import { tempDir } from '../../helpers/devices.js'

describe('agent/config', () => {
  it('layers defaults < file < environment < flags', async () => {
    const dir = await tempDir()
    const file = path.join(dir, 'fleet.json')
    await writeFile(
      file,
      JSON.stringify({ state: '/var/lib/fleet', tcti: 'swtpm:path=/a', batchMs: 100, logLevel: 'debug' })
    )
    const config = await loadConfig({
      file,
      env: { FLEET_TCTI: 'swtpm:path=/b', FLEET_MDNS: '0' },
      flags: { logLevel: 'warn' }
    })
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
    ['the removed memory trim switch', { state: '/s', trimMemory: true }],
    ['an approval page on a port out of range', { state: '/s', approvals: { port: 65_536 } }],
    ['an approval page with an unknown field', { state: '/s', approvals: { port: 8080, host: '0.0.0.0' } }],
    ['an approval page without a port', { state: '/s', approvals: {} }],
    ['an approval switch that is not an object', { state: '/s', approvals: true }],
    ['a gate socket that is not an absolute path', { state: '/s', gateSocket: 'run/gate.sock' }],
    ['a gate socket path too long for a Unix socket', { state: '/s', gateSocket: `/${'x'.repeat(107)}` }]
  ]
  for (const [name, values] of bad) {
    it(`refuses ${name} with ConfigError (exit 2)`, async () => {
      await assert.rejects(
        loadConfig({ flags: values }),
        (err: Error & { exitCode?: number }) => err.name === 'ConfigError' && err.exitCode === 2
      )
    })
  }

  it('the approval page is off unless the config gives it a port (0: a free one)', async () => {
    assert.equal((await loadConfig({ flags: { state: '/s' } })).approvals, undefined)
    const dir = await tempDir()
    const file = path.join(dir, 'fleet.json')
    await writeFile(file, JSON.stringify({ state: '/s', approvals: { port: 0 } }))
    assert.deepEqual((await loadConfig({ file })).approvals, { port: 0 })
    await writeFile(file, JSON.stringify({ state: '/s', approvals: { port: 7443 } }))
    assert.deepEqual((await loadConfig({ file })).approvals, { port: 7443 })
  })

  it('the gate socket is off unless the config or FLEET_GATE_SOCKET names its path', async () => {
    assert.equal((await loadConfig({ flags: { state: '/s' } })).gateSocket, undefined)
    const dir = await tempDir()
    const file = path.join(dir, 'fleet.json')
    await writeFile(file, JSON.stringify({ state: '/s', gateSocket: '/run/fleet-agent/gate.sock' }))
    assert.equal((await loadConfig({ file })).gateSocket, '/run/fleet-agent/gate.sock')
    const fromEnv = await loadConfig({ file, env: { FLEET_GATE_SOCKET: '/run/other/gate.sock' } })
    assert.equal(fromEnv.gateSocket, '/run/other/gate.sock')
  })

  it('refuses a config file that is not JSON, and a missing state directory', async () => {
    const dir = await tempDir()
    const file = path.join(dir, 'bad.json')
    await writeFile(file, '{ state: nope')
    await assert.rejects(loadConfig({ file }), { name: 'ConfigError' })
    await assert.rejects(loadConfig({}), { name: 'ConfigError' })
  })

  it('says which field is wrong and what it must be, in the source it came from', async () => {
    const PCRS = 'must be a list of distinct PCR numbers 0..23'
    const LEVELS = 'fatal, error, warn, info, debug, trace, silent'
    const PORT = 'must be an integer in 0..65535'
    const refusals: Array<[Parameters<typeof loadConfig>[0], string]> = [
      [{ flags: { state: '/s', bootPcrs: [0, 24] } }, `config (flags): bootPcrs ${PCRS}`],
      [{ flags: { state: '/s', bootPcrs: [3, 3] } }, `config (flags): bootPcrs ${PCRS}`],
      [{ flags: { state: '/s', tcit: 'typo' } as Record<string, unknown> }, 'config (flags): unknown field "tcit"'],
      [{ flags: { state: '/s', agentPcr: 7 } }, 'config (flags): agentPcr must be an integer in 16..23'],
      [{ flags: { state: '/s', logLevel: 'loud' } }, `config (flags): logLevel must be one of ${LEVELS}`],
      [{ flags: { state: '/s', listen: ['0.0.0.0:80'] } }, 'config (flags): listen must be a list of multiaddrs'],
      [{ flags: { state: '/s', mdns: 'sometimes' } }, 'config (flags): mdns must be true or false'],
      [{ flags: { state: '' } }, 'config (flags): state must be a non-empty string'],
      [{ env: { FLEET_STATE: '/s', FLEET_METRICS_PORT: 'x' } }, `config (environment): metricsPort ${PORT}`]
    ]
    for (const [sources, message] of refusals) {
      await assert.rejects(loadConfig(sources), { name: 'ConfigError', code: 'ERR_CONFIG', message })
    }
  })

  it('reads numbers, switches and address lists written as text, from the environment and the file alike', async () => {
    const env = {
      FLEET_STATE: '/e',
      FLEET_METRICS_PORT: '9100',
      FLEET_LISTEN: '/ip4/1.2.3.4/tcp/1, /ip6/::/tcp/2',
      FLEET_MDNS: 'false'
    }
    const fromEnv = await loadConfig({ env })
    assert.equal(fromEnv.metricsPort, 9100)
    assert.deepEqual(fromEnv.listen, ['/ip4/1.2.3.4/tcp/1', '/ip6/::/tcp/2'])
    assert.equal(fromEnv.mdns, false)
    const dir = await tempDir()
    const file = path.join(dir, 'fleet.json')
    await writeFile(file, JSON.stringify({ state: '/f', batchMs: '100', mdns: '1', listen: '/a,/b', bootPcrs: [7, 0] }))
    const fromFile = await loadConfig({ file, env: {}, flags: { tcti: undefined } })
    assert.deepEqual(
      [fromFile.batchMs, fromFile.mdns, fromFile.listen, fromFile.bootPcrs],
      [100, true, ['/a', '/b'], [7, 0]]
    )
    // PCR lists have no text form; a "__proto__" key is a field like any other, and unknown.
    await writeFile(file, '{"state": "/f", "bootPcrs": "0,1"}')
    await assert.rejects(loadConfig({ file }), {
      name: 'ConfigError',
      message: /bootPcrs must be a list of distinct PCR numbers/
    })
    await writeFile(file, '{"state": "/f", "__proto__": {"batchMs": 1}}')
    await assert.rejects(loadConfig({ file }), { name: 'ConfigError', message: /unknown field "__proto__"/ })
  })
})
