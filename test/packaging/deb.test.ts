/**
 * The Debian package (scripts/package.sh, npm run package): built from this build, installed with
 * dpkg into a throwaway root (this machine's root under a copy-on-write layer, the checkout hidden),
 * it gives a `fleet` on PATH, the user fleet in group tss, a private state directory, its
 * configuration as a conffile, a man page and bash completion made from the command tree, and a
 * unit whose ExecStart starts the agent against a software TPM when told to. A purge removes the
 * program and its configuration and keeps the device's state.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { tempDir } from '../helpers/devices.js'

/** Runs a command to its end without blocking this process; its output and exit code. Killed after `ms`. */
async function run(
  command: string,
  args: string[],
  ms = 240_000
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: ms, killSignal: 'SIGKILL' })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  return { code, stdout, stderr }
}

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'installing a package needs root'
  for (const tool of ['dpkg-deb', 'unshare', 'swtpm'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`
  return undefined
}

describe('packaging: the Debian package, installed into a throwaway root', function () {
  this.timeout(300_000)
  const found = new Map<string, string>()
  let deb = ''

  before(async function () {
    const reason = missing()
    if (reason !== undefined) {
      console.log(`      (skipped: ${reason})`)
      this.skip()
    }
    const out = await tempDir('fleet-deb-')
    const built = await run('bash', ['scripts/package.sh', '--no-build', '--out', out])
    assert.equal(built.code, 0, built.stderr)
    deb = built.stdout.trim()
    assert.equal(path.dirname(deb), out)
    const installed = await run('unshare', [
      '--mount',
      '--propagation',
      'private',
      '--pid',
      '--fork',
      '--kill-child',
      'bash',
      'test/packaging/deb-install.sh',
      await tempDir('fleet-deb-root-'),
      deb,
      path.resolve('.')
    ])
    assert.equal(installed.code, 0, `${installed.stdout}\n${installed.stderr}`)
    for (const line of installed.stdout.split('\n')) {
      const eq = line.indexOf('=')
      if (eq > 0) found.set(line.slice(0, eq), line.slice(eq + 1).trim())
    }
    if (found.has('skip')) {
      console.log(`      (skipped: ${found.get('skip')})`)
      this.skip()
    }
  })

  const get = (name: string): string => {
    const value = found.get(name)
    assert.ok(value !== undefined, `the install script said nothing of ${name}`)
    return value
  }

  it('is a package of this version whose Depends name the packages of the libraries it loads, each at the version built against', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }
    const info = await run('dpkg-deb', ['--field', deb, 'Package', 'Version', 'Architecture', 'Depends'])
    assert.equal(info.code, 0, info.stderr)
    assert.match(info.stdout, /^Package: fleet-agent$/m)
    assert.match(info.stdout, new RegExp(`^Version: ${version.replaceAll('.', '\\.')}$`, 'm'))
    assert.match(info.stdout, /^Architecture: amd64$/m)
    const entries = /^Depends: (.*)$/m.exec(info.stdout)?.[1]?.split(', ') ?? []
    // Each at least the version it was built against here.
    for (const entry of entries) assert.match(entry, /^[a-z0-9.+-]+ \(>= [0-9][^)\s]*\)$/, `Depends entry "${entry}"`)
    const depends = entries.map((entry) => entry.split(' ')[0]!)
    for (const pkg of [
      'libtss2-esys-3.0.2-0',
      'libtss2-tctildr0',
      'libtss2-mu0',
      'libtss2-rc0',
      'libtss2-tcti-device0'
    ])
      assert.ok(depends.includes(pkg), `Depends: ${depends.join(', ')} lacks ${pkg}`)
    const files = await run('dpkg-deb', ['--contents', deb])
    assert.doesNotMatch(files.stdout, /\/prebuilds\/(?!linux-x64\/)[^\s/]+/, "only this platform's prebuilt bindings")
    // Everything is root's, and readable by the user fleet.
    for (const line of files.stdout.split('\n').filter((l) => l !== '')) {
      const [mode, owner] = line.split(/\s+/)
      assert.equal(owner, 'root/root', line)
      if (!mode!.startsWith('l')) assert.equal(mode![7], 'r', line)
    }
    assert.doesNotMatch(
      files.stdout,
      /\/opt\/fleet-agent\/(src|test|simnet|bench|fuzz)\//,
      'nothing of the checkout but the build'
    )
  })

  it('installs with dpkg: fleet on PATH at this version, the user fleet in group tss, a 0700 state directory', () => {
    assert.equal(
      get('refused_user'),
      '1 the account fleet (uid 1500) is not a system account',
      'an ordinary account fleet is refused'
    )
    assert.equal(get('dpkg_install'), '0', get('dpkg_log'))
    assert.equal(get('fleet_path'), '/usr/bin/fleet')
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }
    assert.equal(get('fleet_version'), version)
    assert.ok(get('fleet_groups').split(' ').includes('tss'), get('fleet_groups'))
    assert.equal(get('state_dir'), '700 fleet fleet')
    assert.equal(get('config'), '644 root')
    assert.equal(get('conffiles'), '/etc/fleet-agent/config.json')
    assert.equal(get('unit'), '644 root')
  })

  it('has a man page with every command and a bash completion of commands and options', () => {
    assert.ok(Number(get('man_commands')) > 40, `${get('man_commands')} commands in the man page`)
    assert.equal(get('man_verify'), '1')
    assert.equal(get('complete_led'), 'ledger')
    assert.equal(get('complete_ledger_ve'), 'verify verify-proof')
    assert.equal(get('complete_verify_opts'), '--state')
  })

  it("enrolled by an owner, the unit's ExecStart, as its user and with FLEET_TCTI told to use a software TPM, runs the agent; SIGTERM stops it cleanly", () => {
    assert.equal(get('swtpm'), '0')
    assert.equal(get('init'), '0', get('init_log'))
    assert.equal(get('enrol'), '0', get('enrol_log'))
    assert.equal(get('join'), '0', get('enrol_log'))
    assert.match(get('exec_start'), /^\/opt\/fleet-agent\/bin\/fleet run /)
    assert.equal(get('status'), '0', get('status_text'))
    assert.match(get('status_text'), /^device [a-z2-7]{52} in fleet [0-9a-f]{64} peerId /)
    assert.match(get('status_text'), /TPM swtpm:path=\/run\/swtpm\/dev\/tpm\.sock: answering/)
    assert.equal(get('agent_exit'), '0')
    assert.match(get('agent_log'), /^0 errors/)
  })

  it('a purge removes the program and its configuration, and keeps the state (the identity and ledger)', () => {
    assert.equal(get('purge'), '0')
    assert.equal(get('after_purge'), 'bin:gone opt:gone config:gone state:kept')
  })
})
