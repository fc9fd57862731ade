/**
 * A TPM in dictionary-attack lockout still signs and quotes with the device's keys: they have an
 * empty auth value and are made noDA, so the lockout that repeated power losses during use (each
 * non-orderly shutdown counts as a failed try) or someone guessing another key's password bring
 * does not lock the device out of its own identity. On swtpm, with tpm2-tools driving the lockout
 * through a password-protected key of their own.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { EsysTpm, parsePublic, TPMA_OBJECT } from '../../../src/attest/index.js'
import { haveSwtpm, startDevice, stopAllDevices, tempDir } from '../../helpers/devices.js'

function tools(tcti: string, args: string[]): { status: number; stderr: string } {
  const [command, ...rest] = args
  const ran = spawnSync(command!, rest, { encoding: 'utf8', env: { ...process.env, TPM2TOOLS_TCTI: tcti } })
  return { status: ran.status ?? -1, stderr: ran.stderr }
}

describe('attest/tpm: the device keys in a TPM locked out by dictionary-attack protection (swtpm, tpm2-tools)', function () {
  this.timeout(120_000)
  before(function () {
    if (!haveSwtpm() || spawnSync('sh', ['-c', 'command -v tpm2_sign']).status !== 0) this.skip()
  })
  after(async () => {
    await stopAllDevices()
  })

  it('signs and quotes with the AK and DSK while a DA-protected key is refused with TPM_RC_LOCKOUT', async () => {
    const device = await startDevice()
    const dir = await tempDir('fleet-lockout-')
    let tpm = await EsysTpm.open({ tcti: device.tcti })
    const ak = await tpm.createKey('attestation')
    const dsk = await tpm.createKey('signing')
    for (const key of [ak, dsk]) assert.ok((parsePublic(key.public).objectAttributes & TPMA_OBJECT.noDA) !== 0)
    await tpm.close()

    // Two failed tries lock the TPM out; a password-protected key of tpm2-tools' own is guessed wrong.
    const file = (name: string): string => path.join(dir, name)
    writeFileSync(file('message'), 'a message')
    const steps = [
      [
        'tpm2_dictionarylockout',
        '--setup-parameters',
        '--max-tries=2',
        '--recovery-time=600',
        '--lockout-recovery-time=600'
      ],
      ['tpm2_createprimary', '-C', 'o', '-g', 'sha256', '-G', 'ecc', '-c', file('primary.ctx')],
      ['tpm2_create', '-C', file('primary.ctx'), '-G', 'ecc', '-p', 'right', '-u', file('k.pub'), '-r', file('k.priv')],
      ['tpm2_load', '-C', file('primary.ctx'), '-u', file('k.pub'), '-r', file('k.priv'), '-c', file('k.ctx')]
    ]
    for (const step of steps) {
      const done = tools(device.tcti, step)
      assert.equal(done.status, 0, `${step.join(' ')}: ${done.stderr}`)
      // No resource manager here: what a tool left loaded is flushed (swtpm keeps three objects).
      tools(device.tcti, ['tpm2_flushcontext', '-t'])
    }
    const signWith = (password: string): { status: number; stderr: string } => {
      const done = tools(device.tcti, [
        'tpm2_sign',
        '-c',
        file('k.ctx'),
        '-p',
        password,
        '-g',
        'sha256',
        '-o',
        file('sig'),
        file('message')
      ])
      tools(device.tcti, ['tpm2_flushcontext', '-t'])
      return done
    }
    const guess = (): { status: number; stderr: string } => signWith('wrong')
    let locked = false
    for (let attempt = 0; attempt < 4 && !locked; attempt++) {
      const done = guess()
      assert.notEqual(done.status, 0)
      locked = /0x921|lockout/i.test(done.stderr)
    }
    assert.ok(locked, 'the TPM went into lockout')
    // The right password too is refused now: the lockout holds for DA-protected keys.
    const right = signWith('right')
    assert.notEqual(right.status, 0)
    assert.match(right.stderr, /0x921|lockout/i)

    // The device's own keys still work.
    tpm = await EsysTpm.open({ tcti: device.tcti })
    try {
      const signature = await tpm.sign(dsk, new Uint8Array(32).fill(7))
      assert.ok(signature.length > 0)
      const quote = await tpm.quote(ak, new Uint8Array(32).fill(9), [{ hash: 'sha256', pcrs: [0, 7] }])
      assert.ok(quote.attest.length > 0)
    } finally {
      await tpm.close()
    }
  })
})
