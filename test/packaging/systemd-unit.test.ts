/**
 * The systemd unit and sysusers.d entry of packaging/: the agent runs as its own system user in
 * group tss, never as root, with a private state directory and a sandbox that keeps the TPM and
 * the network (libp2p over TCP, mDNS over UDP multicast) reachable. Checked by reading the files,
 * and by systemd's own tools when this machine has them.
 */
import { AGENT_EXIT_RESTART } from '../../src/agent/index.js'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

const UNIT = path.resolve('packaging/fleet-agent.service')
const SYSUSERS = path.resolve('packaging/sysusers.d/fleet.conf')
const WORKLOAD_UNIT = path.resolve('packaging/fleet-gated-workload.service')

/** The directives of a unit file per section, each key with every value it is given, in order. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let current: Map<string, string[]> | undefined
  const lines = text.replace(/\\\n/g, ' ').split('\n')
  for (const raw of lines) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const section = /^\[(.+)\]$/.exec(line)
    if (section !== null) {
      current = new Map()
      sections.set(section[1]!, current)
      continue
    }
    const eq = line.indexOf('=')
    assert.ok(current !== undefined && eq > 0, `not a directive: ${line}`)
    const key = line.slice(0, eq).trim()
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()])
  }
  return sections
}

const unit = parseUnit(readFileSync(UNIT, 'utf8'))
const service = unit.get('Service')!
const one = (key: string): string | undefined => {
  const values = service.get(key)
  if (values === undefined) return undefined
  assert.equal(values.length, 1, `${key} is set ${values.length} times`)
  return values[0]
}
const words = (key: string): string[] =>
  (service.get(key) ?? []).flatMap((value) => value.split(/\s+/).filter((w) => w !== ''))
const yes = (key: string): boolean => ['yes', 'true', 'on', '1'].includes(one(key) ?? '')

/** sysusers.d lines as fields, honouring double quotes. */
function sysusers(text: string): string[][] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!))
}

function haveTool(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0
}

describe('packaging: systemd unit and system user', () => {
  it('restarts the agent after exit 75 (its TPM or store failed while it ran) for as long as that lasts, never after a refusal (1, 2)', () => {
    assert.equal(one('Restart'), 'on-failure')
    assert.deepEqual(words('RestartPreventExitStatus').sort(), ['1', '2'])
    assert.ok(!words('RestartPreventExitStatus').includes(String(AGENT_EXIT_RESTART)))
    assert.equal(AGENT_EXIT_RESTART, 75)
    // No start limit: a full disk may last longer than systemd's default burst of starts.
    assert.deepEqual(unit.get('Unit')!.get('StartLimitIntervalSec'), ['0'])
  })

  it('the agent runs as the system user fleet, in group tss, never as root', () => {
    assert.equal(one('User'), 'fleet')
    assert.equal(one('Group'), 'fleet')
    assert.ok(words('SupplementaryGroups').includes('tss'), 'not in group tss (/dev/tpmrm0)')
    for (const key of ['User', 'Group']) assert.ok(!['root', '0'].includes(one(key) ?? 'root'), `${key} is root`)
    assert.equal(service.get('DynamicUser'), undefined)
    // No way back to root privileges: no capabilities, no setuid gain.
    assert.ok(yes('NoNewPrivileges'))
    assert.deepEqual(service.get('CapabilityBoundingSet'), [''])
    assert.deepEqual(service.get('AmbientCapabilities'), [''])
    // Only ExecStartPre may run privileged ("+"), and only to copy the root-only event log.
    assert.ok(!(service.get('ExecStart') ?? []).some((cmd) => /^[-@:]*[+!]/.test(cmd)), 'ExecStart runs privileged')
    for (const cmd of service.get('ExecStartPre') ?? []) {
      if (/^[-@:]*[+!]/.test(cmd))
        assert.match(
          cmd,
          /^[-+]+\/usr\/bin\/install -m 0400 -o fleet -g fleet \/sys\/kernel\/security\/tpm0\/binary_bios_measurements \/run\/fleet-agent\//
        )
    }
  })

  it('the state directory is private (0700) and is the one the agent is given; the event log comes from its runtime directory', () => {
    assert.equal(one('StateDirectory'), 'fleet-agent')
    assert.equal(one('StateDirectoryMode'), '0700')
    // Reachable by name (the gate socket), not listable; the event log copy in it is 0400.
    assert.equal(one('RuntimeDirectoryMode'), '0711')
    assert.equal(one('UMask'), '0077')
    const start = one('ExecStart')!.split(/\s+/)
    assert.equal(start[start.indexOf('--state') + 1], `/var/lib/${one('StateDirectory')!}`)
    assert.equal(start[start.indexOf('--eventlog') + 1], `/run/${one('RuntimeDirectory')!}/binary_bios_measurements`)
    // The unit starts without a config file too: read when present, the defaults otherwise.
    assert.equal(start[start.indexOf('--config-if-present') + 1], '/etc/fleet-agent/config.json')
    assert.ok(!start.includes('--config'))
  })

  it('the sandbox keeps the TPM and the network reachable: /dev/tpmrm0 only, TCP and mDNS multicast over IPv4 and IPv6', () => {
    assert.deepEqual(service.get('DeviceAllow'), ['/dev/tpmrm0 rw'])
    assert.equal(one('DevicePolicy'), 'closed')
    assert.equal(one('ProtectSystem'), 'strict')
    assert.ok(yes('ProtectHome'))
    assert.ok(yes('PrivateTmp'))
    assert.deepEqual(words('RestrictAddressFamilies').sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX'])
    // Directives that would break the agent: no TPM device, tss mapped away, no V8 JIT.
    assert.ok(!yes('PrivateDevices'), 'PrivateDevices hides /dev/tpmrm0')
    assert.ok(!yes('PrivateUsers'), 'PrivateUsers maps the tss group away')
    assert.ok(!yes('MemoryDenyWriteExecute'), 'MemoryDenyWriteExecute stops the V8 JIT')
    assert.ok(!yes('PrivateNetwork'), 'PrivateNetwork cuts the agent off its peers')
    assert.equal(one('IPAddressDeny'), undefined)
  })

  it("the gate socket is in the runtime directory, and the gated workload's example unit runs as its own user through it", () => {
    const socket = (service.get('Environment') ?? []).map((e) => /^FLEET_GATE_SOCKET=(.+)$/.exec(e)?.[1]).find(Boolean)
    assert.equal(socket, `/run/${one('RuntimeDirectory')!}/gate.sock`)
    const workload = parseUnit(readFileSync(WORKLOAD_UNIT, 'utf8')).get('Service')!
    const user = workload.get('User')?.[0]
    assert.ok(user !== undefined && !['fleet', 'root', '0'].includes(user), `the workload runs as ${user}`)
    assert.equal(workload.get('DynamicUser'), undefined, 'a grant names a stable uid')
    const start = workload.get('ExecStart')![0]!.split(/\s+/)
    assert.equal(start[start.indexOf('--gate') + 1], socket)
    assert.ok(!start.includes('--state'), 'not through the control socket')
  })

  it('sysusers.d makes the user fleet (home: the state directory) and puts it in group tss', () => {
    const lines = sysusers(readFileSync(SYSUSERS, 'utf8'))
    const user = lines.find((fields) => fields[0] === 'u' && fields[1] === one('User'))
    assert.ok(user !== undefined, "no u line for the unit's user")
    assert.deepEqual(user, ['u', 'fleet', '-', 'fleet agent', `/var/lib/${one('StateDirectory')!}`])
    assert.ok(lines.some((fields) => fields.join(' ') === 'm fleet tss'))
  })

  describe("with systemd's tools", () => {
    let dir: string
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'fleet-packaging-'))
    })
    afterEach(() => rmSync(dir, { recursive: true, force: true }))

    it('systemd-analyze verify accepts the unit (with ExecStart pointed at an existing program)', function () {
      if (!haveTool('systemd-analyze')) {
        console.warn('      skipped: systemd-analyze is not installed')
        this.skip()
      }
      // verify checks that the program exists; /opt/fleet-agent is where it is installed, not here.
      const copy = path.join(dir, 'fleet-agent.service')
      writeFileSync(copy, readFileSync(UNIT, 'utf8').replaceAll('/opt/fleet-agent/bin/fleet', '/bin/true'))
      const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' })
      assert.equal(result.status, 0, result.stderr)
      assert.equal(result.stderr.trim(), '')
    })

    it('systemd-sysusers makes the user and the membership in a scratch root', function () {
      if (!haveTool('systemd-sysusers')) {
        console.warn('      skipped: systemd-sysusers is not installed')
        this.skip()
      }
      mkdirSync(path.join(dir, 'etc'))
      execFileSync('systemd-sysusers', [`--root=${dir}`, SYSUSERS], { stdio: 'ignore' })
      const passwd = readFileSync(path.join(dir, 'etc/passwd'), 'utf8')
        .split('\n')
        .map((line) => line.split(':'))
      const fleet = passwd.find((fields) => fields[0] === 'fleet')
      assert.ok(fleet !== undefined)
      assert.notEqual(fleet[2], '0')
      assert.equal(fleet[5], '/var/lib/fleet-agent')
      const tss = readFileSync(path.join(dir, 'etc/group'), 'utf8')
        .split('\n')
        .map((line) => line.split(':'))
        .find((fields) => fields[0] === 'tss')
      assert.ok(tss?.[3]?.split(',').includes('fleet'))
    })
  })
})
