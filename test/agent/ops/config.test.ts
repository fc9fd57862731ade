import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { loadConfig, CONFIG_DEFAULTS } from '../../../src/agent/ops/config.js'
import { tempDir } from '../../helpers/devices.js'
import { mintTls } from '../../../simnet/webhook-receiver.js'

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
    ['a network key path that is not absolute', { state: '/s', networkKeyFile: 'network.key' }],
    ['a hub address that names no peer', { state: '/s', hubs: ['/ip4/192.0.2.1/tcp/7000'] }],
    [
      'a hub address that is itself relayed',
      { state: '/s', hubs: ['/ip4/192.0.2.1/tcp/7000/p2p/12D3KooA/p2p-circuit/p2p/12D3KooB'] }
    ],
    [
      'more hubs than an agent may be given',
      { state: '/s', hubs: Array.from({ length: 9 }, (_, i) => `/ip4/192.0.2.${i}/tcp/7000/p2p/12D3Koo${i}`) }
    ],
    // The memory trim is gone (it did not lower the cgroup's memory.current: docs/benchmarks.md).
    ['the removed memory trim switch', { state: '/s', trimMemory: true }],
    ['an approval page on a port out of range', { state: '/s', approvals: { port: 65_536 } }],
    ['an approval page with an unknown field', { state: '/s', approvals: { port: 8080, host: '0.0.0.0' } }],
    ['an approval page without a port', { state: '/s', approvals: {} }],
    ['an approval switch that is not an object', { state: '/s', approvals: true }],
    ['a gate socket that is not an absolute path', { state: '/s', gateSocket: 'run/gate.sock' }],
    ['a gate socket path too long for a Unix socket', { state: '/s', gateSocket: `/${'x'.repeat(107)}` }],
    ['a sink of an unknown kind', { state: '/s', sinks: [{ kind: 'email', name: 'soc', to: 'soc@example.org' }] }],
    ['a sink without a name', { state: '/s', sinks: [{ kind: 'webhook', url: 'https://soc.example/e' }] }],
    [
      'a sink name that is not a slug',
      { state: '/s', sinks: [{ kind: 'webhook', name: 'SOC/1', url: 'https://soc.example/e' }] }
    ],
    ['a webhook URL that is no URL', { state: '/s', sinks: [{ kind: 'webhook', name: 'soc', url: 'soc.example' }] }],
    [
      'a webhook over http:// to a remote host',
      { state: '/s', sinks: [{ kind: 'webhook', name: 'soc', url: 'http://soc.example/e' }] }
    ],
    [
      'a webhook over http:// to a name that only resolves to loopback',
      { state: '/s', sinks: [{ kind: 'webhook', name: 'soc', url: 'http://localhost:8080/e' }] }
    ],
    [
      'a webhook URL with credentials',
      { state: '/s', sinks: [{ kind: 'webhook', name: 'soc', url: 'https://user:pw@soc.example/e' }] }
    ],
    ['a webhook over ftp://', { state: '/s', sinks: [{ kind: 'webhook', name: 'soc', url: 'ftp://soc.example/e' }] }],
    [
      'a webhook whose CA file is missing',
      {
        state: '/s',
        sinks: [{ kind: 'webhook', name: 'soc', url: 'https://soc.example/e', caFile: '/nonexistent/ca.pem' }]
      }
    ],
    [
      'a webhook batch larger than the bound',
      { state: '/s', sinks: [{ kind: 'webhook', name: 'soc', url: 'https://soc.example/e', batchEvents: 100_000 }] }
    ],
    [
      'an event type no sink is sent',
      { state: '/s', sinks: [{ kind: 'webhook', name: 'soc', url: 'https://soc.example/e', events: ['policy.set'] }] }
    ],
    [
      'two sinks of one name',
      {
        state: '/s',
        sinks: [
          { kind: 'webhook', name: 'soc', url: 'https://soc.example/e' },
          { kind: 'syslog', name: 'soc', transport: 'udp', address: '127.0.0.1:514' }
        ]
      }
    ],
    [
      'a syslog transport that is not udp, tcp or unix',
      { state: '/s', sinks: [{ kind: 'syslog', name: 'log', transport: 'tls', address: '127.0.0.1:6514' }] }
    ],
    [
      'a syslog address without a port',
      { state: '/s', sinks: [{ kind: 'syslog', name: 'log', transport: 'tcp', address: 'collector' }] }
    ],
    [
      'a syslog unix socket that is not an absolute path',
      { state: '/s', sinks: [{ kind: 'syslog', name: 'log', transport: 'unix', address: 'dev/log' }] }
    ],
    [
      'a syslog facility that does not exist',
      {
        state: '/s',
        sinks: [{ kind: 'syslog', name: 'log', transport: 'udp', address: '[::1]:514', facility: 'local9' }]
      }
    ]
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

  it('takes sinks from the file: a CA file relative to it, the loopback over http://, syslog by host or socket', async () => {
    const dir = await tempDir()
    const file = path.join(dir, 'fleet.json')
    const tls = mintTls(dir, 'config')
    const sinks = [
      { kind: 'webhook', name: 'soc', url: 'https://soc.example/fleet', caFile: path.basename(tls.caFile) },
      { kind: 'webhook', name: 'local', url: 'http://127.0.0.1:9000/e', events: ['workload.stop'] },
      { kind: 'webhook', name: 'local6', url: 'http://[::1]:9000/e' },
      { kind: 'syslog', name: 'udp', transport: 'udp', address: 'collector.example:514', facility: 'auth' },
      { kind: 'syslog', name: 'tcp', transport: 'tcp', address: '[fd00::1]:601' },
      { kind: 'syslog', name: 'dev-log', transport: 'unix', address: '/dev/log' }
    ]
    await writeFile(file, JSON.stringify({ state: '/s', sinks }))
    const config = await loadConfig({ file })
    assert.equal(config.sinks?.length, 6)
    const first = config.sinks?.[0]
    assert.ok(first?.kind === 'webhook')
    assert.equal(first.caFile, tls.caFile)
    assert.deepEqual(config.sinks?.[1], sinks[1])
    assert.equal((await loadConfig({ flags: { state: '/s' } })).sinks, undefined)
  })

  it('says which sink field is wrong, in one line', async () => {
    const dir = await tempDir()
    const file = path.join(dir, 'fleet.json')
    await writeFile(
      file,
      JSON.stringify({ state: '/s', sinks: [{ kind: 'webhook', name: 'soc', url: 'http://soc.example/e' }] })
    )
    await assert.rejects(loadConfig({ file }), (err: Error) => {
      assert.equal(err.name, 'ConfigError')
      assert.equal(
        err.message,
        `config (${file}): sinks[0].url: http:// is allowed to 127.0.0.1 or [::1] only: events to another host go over https://`
      )
      return true
    })
    await writeFile(
      file,
      JSON.stringify({
        state: '/s',
        sinks: [{ kind: 'webhook', name: 'soc', url: 'https://a.example', caFile: 'none.pem' }]
      })
    )
    await assert.rejects(loadConfig({ file }), (err: Error) => {
      assert.match(err.message, /sinks\[0\]\.caFile: cannot read .*none\.pem: ENOENT$/)
      assert.doesNotMatch(err.message, /\n/)
      return true
    })
    await writeFile(file.replace('fleet.json', 'garbage.pem'), 'not a certificate')
    await writeFile(
      file,
      JSON.stringify({
        state: '/s',
        sinks: [{ kind: 'webhook', name: 'soc', url: 'https://a.example', caFile: 'garbage.pem' }]
      })
    )
    await assert.rejects(loadConfig({ file }), /sinks\[0\]\.caFile: .*garbage\.pem holds no PEM certificate/)
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
