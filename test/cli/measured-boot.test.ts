/**
 * The measured-boot commands as an operator runs them: simulated boot on a swtpm, policy from the
 * good log, quote, verdict; then a tampered boot refused with the reason.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { haveSwtpm, tempDir } from '../helpers/devices.js'

import { runFleet as run } from '../helpers/cli.js'
import { needsSharedTestdata } from '../helpers/shared.js'

describe('cli: fleet swtpm boot / eventlog / policy create / attest verify', function () {
  this.timeout(120_000)
  let dir: string
  let device: string
  let tcti: string

  before(async function () {
    if (!haveSwtpm()) this.skip()
    dir = await tempDir('fleet-cli-boot-')
    device = path.join(dir, 'dev')
    const started = run(['swtpm', 'start', '--dir', device, '--json'])
    assert.equal(started.status, 0, started.stderr)
    tcti = (JSON.parse(started.stdout) as { tcti: string }).tcti
  })

  after(() => {
    if (device !== undefined) run(['swtpm', 'stop', '--dir', device])
  })

  function quoteAndVerify(policy: string): { status: number; stdout: string; stderr: string } {
    const out = path.join(dir, 'q')
    const quoted = run([
      'attest',
      'quote',
      '--tcti',
      tcti,
      '--nonce',
      'c0ffee',
      '--pcrs',
      'sha256:0,1,2,3,4,5,6,7,8,9',
      '--out',
      out
    ])
    assert.equal(quoted.status, 0, quoted.stderr)
    return run([
      'attest',
      'verify',
      '--ak',
      `${out}/ak.pub`,
      '--message',
      `${out}/quote.msg`,
      '--signature',
      `${out}/quote.sig`,
      '--nonce',
      'c0ffee',
      '--eventlog',
      path.join(device, 'binary_bios_measurements'),
      '--policy',
      policy,
      '--json'
    ])
  }

  it('trusts the good boot its policy was made from (exit 0), refuses a tampered kernel (exit 1, PCR 4)', () => {
    assert.equal(run(['swtpm', 'boot', '--dir', device]).status, 0)
    const policy = path.join(dir, 'policy.json')
    const created = run([
      'policy',
      'create',
      '--from-eventlog',
      path.join(device, 'binary_bios_measurements'),
      '--out',
      policy,
      '--json'
    ])
    assert.equal(created.status, 0, created.stderr)
    assert.equal((JSON.parse(readFileSync(policy, 'utf8')) as { secureBoot: string }).secureBoot, 'required')
    const good = quoteAndVerify(policy)
    assert.equal(good.status, 0, good.stderr)
    assert.equal((JSON.parse(good.stdout) as { trusted: boolean }).trusted, true)
    // The same genuine quote with the AK as a bare PEM key: its attributes cannot be checked, so the boot is not trusted.
    const out = path.join(dir, 'q')
    const pem = run([
      'attest',
      'verify',
      '--ak',
      `${out}/ak.pem`,
      '--message',
      `${out}/quote.msg`,
      '--signature',
      `${out}/quote.sig`,
      '--nonce',
      'c0ffee',
      '--eventlog',
      path.join(device, 'binary_bios_measurements'),
      '--policy',
      policy
    ])
    assert.equal(pem.status, 1)
    assert.match(pem.stderr, /refused: the AK is a bare public key.*made inside the TPM/)

    assert.equal(run(['swtpm', 'boot', '--dir', device, '--variant', 'tampered-kernel']).status, 0)
    const bad = quoteAndVerify(policy)
    assert.equal(bad.status, 1)
    const verdict = JSON.parse(bad.stdout) as { trusted: boolean; reasons: Array<{ code: string; pcr: number }> }
    assert.equal(verdict.trusted, false)
    assert.deepEqual(
      verdict.reasons.map((r) => [r.code, r.pcr]),
      [['event_not_allowed', 4]]
    )
  })

  it('a policy from two known-good boots (repeated --from-eventlog) trusts each; one made from a single boot refuses the other (regression: only the last log was kept)', () => {
    const logs: string[] = []
    for (const variant of ['good', 'new-kernel']) {
      assert.equal(run(['swtpm', 'boot', '--dir', device, '--variant', variant]).status, 0)
      const copy = path.join(dir, `${variant}.log`)
      writeFileSync(copy, readFileSync(path.join(device, 'binary_bios_measurements')))
      logs.push(copy)
    }
    const both = path.join(dir, 'policy-both.json')
    const created = run(['policy', 'create', '--from-eventlog', logs[0]!, '--from-eventlog', logs[1]!, '--out', both])
    assert.equal(created.status, 0, created.stderr)
    const onlyFirst = path.join(dir, 'policy-first.json')
    assert.equal(run(['policy', 'create', '--from-eventlog', logs[0]!, '--out', onlyFirst]).status, 0)
    // The device is now in the new-kernel boot.
    assert.equal(quoteAndVerify(both).status, 0)
    const refused = quoteAndVerify(onlyFirst)
    assert.equal(refused.status, 1)
    assert.match(refused.stdout, /event_not_allowed/)
    assert.equal(run(['swtpm', 'boot', '--dir', device, '--variant', 'good']).status, 0)
    assert.equal(quoteAndVerify(both).status, 0)
    // Neither boot's events alone: a tampered kernel is still refused by the union.
    assert.equal(run(['swtpm', 'boot', '--dir', device, '--variant', 'tampered-kernel']).status, 0)
    assert.equal(quoteAndVerify(both).status, 1)
  })

  needsSharedTestdata(
    it('eventlog replay matches the expected PCRs of a real log', () => {
      const result = run(['eventlog', 'replay', '../shared/testdata/eventlogs/rhel8-uefi.bin', '--json'])
      assert.equal(result.status, 0, result.stderr)
      const expected = JSON.parse(readFileSync('../shared/testdata/eventlogs/rhel8-uefi.expected.json', 'utf8')) as {
        events: number
        pcrs: unknown
      }
      const replay = JSON.parse(result.stdout) as { format: string; events: number; pcrs: unknown }
      assert.equal(replay.format, 'crypto-agile')
      assert.equal(replay.events, expected.events)
      assert.deepEqual(replay.pcrs, expected.pcrs)
      assert.equal(run(['eventlog', 'show', '../shared/testdata/eventlogs/rhel8-uefi.bin']).status, 0)
    })
  )

  it('bad input: exit 2 with one line', () => {
    const garbage = path.join(dir, 'garbage.json')
    writeFileSync(garbage, '{"version": 2}')
    const cases = [
      ['eventlog', 'replay', '/etc/hostname'],
      ['eventlog', 'show', '/nonexistent'],
      [
        'policy',
        'create',
        '--from-eventlog',
        '../shared/testdata/eventlogs/rhel8-uefi.bin',
        '--pcrs',
        '0,99',
        '--out',
        path.join(dir, 'p.json')
      ],
      [
        'policy',
        'create',
        '--from-eventlog',
        '../shared/testdata/eventlogs/rhel8-uefi.bin',
        '--secure-boot',
        'maybe',
        '--out',
        path.join(dir, 'p.json')
      ],
      ['swtpm', 'boot', '--dir', device, '--variant', 'evil'],
      [
        'attest',
        'verify',
        '--ak',
        path.join(dir, 'q/ak.pub'),
        '--message',
        path.join(dir, 'q/quote.msg'),
        '--signature',
        path.join(dir, 'q/quote.sig'),
        '--nonce',
        'c0ffee',
        '--eventlog',
        path.join(device, 'binary_bios_measurements'),
        '--policy',
        garbage
      ]
    ]
    for (const args of cases) {
      const result = run(args)
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`)
      assert.doesNotMatch(result.stderr, /\n\s+at /)
    }
  })
})
