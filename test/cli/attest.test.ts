/**
 * The `fleet` CLI as a user runs it (bin/fleet, separate processes), against a real swtpm, and
 * cross-checked both ways with tpm2-tools.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parsePublic, rsaEkTemplate, marshalPublicArea } from '../../src/attest/index.js'
import { haveSwtpm, tempDir } from '../helpers/devices.js'

import { runFleet as run } from '../helpers/cli.js'

function tools(command: string, args: string[], tcti: string): string {
  return execFileSync(command, args, {
    env: { ...process.env, TPM2TOOLS_TCTI: tcti },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe']
  })
}

function assertOneLineError(stderr: string): void {
  const lines = stderr.trim().split('\n')
  assert.ok(lines.length <= 2, `more than one line of error: ${stderr}`)
  assert.doesNotMatch(stderr, /\n\s+at /, 'a stack trace was printed')
}

describe('cli: fleet swtpm / tpm info / attest', function () {
  this.timeout(120_000)
  let dir: string
  let tcti: string

  before(async function () {
    if (!haveSwtpm()) this.skip()
    dir = await tempDir('fleet-cli-')
    const started = run(['swtpm', 'start', '--dir', path.join(dir, 'dev'), '--json'])
    assert.equal(started.status, 0, started.stderr)
    tcti = (JSON.parse(started.stdout) as { tcti: string }).tcti
  })

  after(() => {
    if (dir !== undefined) run(['swtpm', 'stop', '--dir', path.join(dir, 'dev')])
  })

  it('tpm info reports the deviceId from the EK', () => {
    const result = run(['tpm', 'info', '--tcti', tcti, '--json'])
    assert.equal(result.status, 0, result.stderr)
    const info = JSON.parse(result.stdout) as {
      deviceId: string
      banks: string[]
      endorsementKey: { certificate: boolean }
    }
    assert.match(info.deviceId, /^[a-z2-7]{52}$/)
    assert.deepEqual(info.banks, ['sha256'])
    assert.equal(info.endorsementKey.certificate, true)
  })

  it('our quote files pass tpm2_checkquote, and a wrong nonce fails it', () => {
    const out = path.join(dir, 'ours')
    const result = run([
      'attest',
      'quote',
      '--tcti',
      tcti,
      '--nonce',
      'a1b2c3',
      '--pcrs',
      'sha256:0,1,2,3,7',
      '--out',
      out
    ])
    assert.equal(result.status, 0, result.stderr)
    const args = [
      '-u',
      `${out}/ak.pem`,
      '-m',
      `${out}/quote.msg`,
      '-s',
      `${out}/quote.sig`,
      '-f',
      `${out}/quote.pcrs`,
      '-g',
      'sha256'
    ]
    tools('tpm2_checkquote', [...args, '-q', 'a1b2c3'], tcti)
    assert.throws(() => tools('tpm2_checkquote', [...args, '-q', 'a1b2c4'], tcti))
  })

  it('verify-quote: 0 for a valid quote (TPM2B_PUBLIC or PEM AK), 1 with one line for a refused one', () => {
    const out = path.join(dir, 'ours')
    const base = [
      'attest',
      'verify-quote',
      '--message',
      `${out}/quote.msg`,
      '--signature',
      `${out}/quote.sig`,
      '--pcrs',
      `${out}/quote.pcrs`
    ]
    const valid = run([...base, '--ak', `${out}/ak.pub`, '--nonce', 'a1b2c3', '--json'])
    assert.equal(valid.status, 0, valid.stderr)
    assert.equal((JSON.parse(valid.stdout) as { akRestrictionChecked: boolean }).akRestrictionChecked, true)
    const pem = run([...base, '--ak', `${out}/ak.pem`, '--nonce', 'a1b2c3', '--json'])
    assert.equal(pem.status, 0, pem.stderr)
    assert.equal((JSON.parse(pem.stdout) as { akRestrictionChecked: boolean }).akRestrictionChecked, false)
    const refused = run([...base, '--ak', `${out}/ak.pub`, '--nonce', 'a1b2c4'])
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /not over this nonce/)
    assertOneLineError(refused.stderr)
  })

  it('a quote made by tpm2-tools with an ECC AK verifies with ours', () => {
    const t = (name: string): string => path.join(dir, name)
    // tpm2-tools leaves transient objects loaded; swtpm has three slots.
    tools('tpm2_createek', ['-c', t('ek.ctx'), '-G', 'rsa', '-u', t('ek.pub')], tcti)
    tools('tpm2_flushcontext', ['-t'], tcti)
    tools(
      'tpm2_createak',
      ['-C', t('ek.ctx'), '-c', t('ak.ctx'), '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', t('ak.pub')],
      tcti
    )
    tools('tpm2_flushcontext', ['-t'], tcti)
    tools(
      'tpm2_quote',
      [
        '-c',
        t('ak.ctx'),
        '-l',
        'sha256:0,1,2,3,7,16',
        '-q',
        'feedface',
        '-m',
        t('q.msg'),
        '-s',
        t('q.sig'),
        '-o',
        t('q.pcrs'),
        '-g',
        'sha256'
      ],
      tcti
    )
    tools('tpm2_flushcontext', ['-t'], tcti)
    const result = run([
      'attest',
      'verify-quote',
      '--ak',
      t('ak.pub'),
      '--message',
      t('q.msg'),
      '--signature',
      t('q.sig'),
      '--pcrs',
      t('q.pcrs'),
      '--nonce',
      'feedface',
      '--json'
    ])
    assert.equal(result.status, 0, result.stderr)
    const other = run([
      'attest',
      'verify-quote',
      '--ak',
      t('ak.pub'),
      '--message',
      t('q.msg'),
      '--signature',
      t('q.sig'),
      '--pcrs',
      t('q.pcrs'),
      '--nonce',
      'feedfacf'
    ])
    assert.equal(other.status, 1)
  })

  it('verify-quote: an AK made outside the TPM with tpm2_import is refused with exit 1, naming the attributes', () => {
    const t = (name: string): string => path.join(dir, name)
    tools(
      'tpm2_createprimary',
      [
        '-C',
        'o',
        '-G',
        'ecc256:null:aes128cfb',
        '-c',
        t('primary.ctx'),
        '-a',
        'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda'
      ],
      tcti
    )
    tools('tpm2_flushcontext', ['-t'], tcti)
    execFileSync('openssl', [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      t('software.pem')
    ])
    tools(
      'tpm2_import',
      [
        '-C',
        t('primary.ctx'),
        '-G',
        'ecc:ecdsa-sha256:null',
        '-i',
        t('software.pem'),
        '-a',
        'restricted|sign|userwithauth',
        '-u',
        t('imp.pub'),
        '-r',
        t('imp.priv')
      ],
      tcti
    )
    tools('tpm2_flushcontext', ['-t'], tcti)
    tools('tpm2_load', ['-C', t('primary.ctx'), '-u', t('imp.pub'), '-r', t('imp.priv'), '-c', t('imp.ctx')], tcti)
    tools('tpm2_flushcontext', ['-t'], tcti)
    tools(
      'tpm2_quote',
      [
        '-c',
        t('imp.ctx'),
        '-l',
        'sha256:0,7',
        '-q',
        'feedface',
        '-m',
        t('imp.msg'),
        '-s',
        t('imp.sig'),
        '-o',
        t('imp.pcrs'),
        '-g',
        'sha256'
      ],
      tcti
    )
    tools('tpm2_flushcontext', ['-t'], tcti)
    const result = run([
      'attest',
      'verify-quote',
      '--ak',
      t('imp.pub'),
      '--message',
      t('imp.msg'),
      '--signature',
      t('imp.sig'),
      '--pcrs',
      t('imp.pcrs'),
      '--nonce',
      'feedface'
    ])
    assert.equal(result.status, 1, result.stderr)
    assert.match(result.stderr, /the AK is not fixedTPM\/fixedParent\/sensitiveDataOrigin: made outside the TPM/)
    assertOneLineError(result.stderr)
  })

  it('our RSA EK template matches the EK tpm2_createek makes (all but the key itself)', () => {
    const ek = parsePublic(new Uint8Array(readFileSync(path.join(dir, 'ek.pub'))))
    assert.equal(ek.type, 'rsa')
    const template = rsaEkTemplate()
    const expected = { ...template, modulus: ek.type === 'rsa' ? ek.modulus : template.modulus }
    assert.deepEqual(Buffer.from(marshalPublicArea(ek)), Buffer.from(marshalPublicArea(expected)))
  })

  it('refuses unreadable input with exit 2 and one line, never a stack trace', () => {
    const bad = path.join(dir, 'garbage.bin')
    writeFileSync(bad, Buffer.from('not a TPM structure at all'))
    const out = path.join(dir, 'ours')
    const cases: string[][] = [
      [
        'attest',
        'verify-quote',
        '--ak',
        bad,
        '--message',
        `${out}/quote.msg`,
        '--signature',
        `${out}/quote.sig`,
        '--pcrs',
        `${out}/quote.pcrs`,
        '--nonce',
        '00'
      ],
      [
        'attest',
        'verify-quote',
        '--ak',
        `${out}/ak.pub`,
        '--message',
        bad,
        '--signature',
        `${out}/quote.sig`,
        '--pcrs',
        `${out}/quote.pcrs`,
        '--nonce',
        'a1b2c3'
      ],
      [
        'attest',
        'verify-quote',
        '--ak',
        `${out}/ak.pub`,
        '--message',
        `${out}/quote.msg`,
        '--signature',
        `${out}/quote.sig`,
        '--pcrs',
        bad,
        '--nonce',
        'a1b2c3'
      ],
      [
        'attest',
        'verify-quote',
        '--ak',
        `${out}/ak.pub`,
        '--message',
        `${out}/quote.msg`,
        '--signature',
        `${out}/quote.sig`,
        '--pcrs',
        `${out}/quote.pcrs`,
        '--nonce',
        'xyz'
      ],
      [
        'attest',
        'verify-quote',
        '--ak',
        '/nonexistent',
        '--message',
        `${out}/quote.msg`,
        '--signature',
        `${out}/quote.sig`,
        '--pcrs',
        `${out}/quote.pcrs`,
        '--nonce',
        '00'
      ],
      ['attest', 'quote', '--tcti', tcti, '--nonce', '00', '--pcrs', 'sha256:99', '--out', out],
      ['tpm', 'info', '--tcti', 'nonsense:x'],
      ['tpm', 'info'],
      ['no-such-command']
    ]
    for (const args of cases) {
      const result = run(args)
      assert.equal(result.status, 2, `${args.join(' ')}: exit ${result.status}, ${result.stderr}`)
      assertOneLineError(result.stderr)
    }
  })

  it('names the TCTI and exits 1 when the TPM is absent', () => {
    const result = run(['tpm', 'info', '--tcti', `swtpm:path=${path.join(dir, 'absent.sock')}`])
    assert.equal(result.status, 1)
    assert.match(result.stderr, /absent\.sock/)
    assertOneLineError(result.stderr)
  })

  it('swtpm stop leaves no process behind', () => {
    const pidFile = path.join(dir, 'dev', 'swtpm.pid')
    const pid = Number(readFileSync(pidFile, 'utf8'))
    assert.equal(run(['swtpm', 'stop', '--dir', path.join(dir, 'dev')]).status, 0)
    // Gone, or an exited zombie waiting for init to reap it: either way, not running.
    let state = 'gone'
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    } catch {}
    assert.ok(state === 'gone' || state === 'Z', `swtpm ${pid} is still running (state ${state})`)
    // Restart for the after() hook's symmetry.
    assert.equal(run(['swtpm', 'start', '--dir', path.join(dir, 'dev')]).status, 0)
  })
})
