/**
 * PIN sources: an inherited fd, a systemd credential, the controlling terminal with echo off.
 * The terminal tests run readPin in a child: under `script` (a real pty, typed into only once
 * the prompt is shown, so nothing is typed while the terminal still echoes) and under `setsid`
 * (no controlling terminal at all); both are util-linux, always on Debian.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { readPin, type PinSource } from '../../src/pkcs11/index.js'
import { pinFromBytes } from '../../src/pkcs11/pin.js'
import { tempDir } from '../helpers/devices.js'

const CHILD = path.resolve('dist/test/helpers/read-pin-child.js')

async function fromFile(dir: string, content: string | Buffer): Promise<string> {
  const file = path.join(dir, `pin-${Math.random().toString(36).slice(2)}`)
  writeFileSync(file, content)
  const fd = openSync(file, 'r')
  try {
    return await readPin({ fd })
  } finally {
    closeSync(fd)
  }
}

/** Runs readPin(source) in a child under `script`; types `keys` once the prompt shows. */
async function throughPty(dir: string, source: PinSource, keys: string): Promise<{ result: unknown; screen: string }> {
  const out = path.join(dir, `pty-${Math.random().toString(36).slice(2)}.json`)
  const command = [process.execPath, CHILD, `'${JSON.stringify(source)}'`, out].join(' ')
  const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] })
  let screen = ''
  let typed = false
  child.stdout.on('data', (chunk: Buffer) => {
    screen += chunk.toString()
    if (!typed && 'prompt' in source && screen.includes(source.prompt)) {
      typed = true
      child.stdin.write(keys)
    }
  })
  await new Promise((resolve) => child.on('exit', resolve))
  return { result: JSON.parse(readFileSync(out, 'utf8')), screen }
}

describe('pkcs11: reading a PIN', function () {
  this.timeout(30_000)
  let dir: string

  before(async () => {
    dir = await tempDir('fleet-pin-')
  })

  it('from an fd: one trailing LF or CR LF is stripped, the rest kept', async () => {
    assert.equal(await fromFile(dir, '1234'), '1234')
    assert.equal(await fromFile(dir, '1234\n'), '1234')
    assert.equal(await fromFile(dir, '12 34\r\n'), '12 34')
    assert.equal(await fromFile(dir, 'pâté-pin'), 'pâté-pin')
  })

  it('from an fd: several lines, a NUL, non-UTF-8, too short and too long are refused', async () => {
    const refused = (reason: RegExp) => (err: Error & { reason?: string; source?: string }) =>
      err.name === 'PinMalformedError' && reason.test(err.reason ?? '') && /^fd \d+$/.test(err.source ?? '')
    await assert.rejects(fromFile(dir, '1234\n\n'), refused(/more than one line/))
    await assert.rejects(fromFile(dir, '12\n34'), refused(/more than one line/))
    await assert.rejects(fromFile(dir, '12\x0034'), refused(/NUL/))
    await assert.rejects(fromFile(dir, Buffer.from([0x31, 0x32, 0xff, 0x34])), refused(/UTF-8/))
    await assert.rejects(fromFile(dir, '123\n'), refused(/shorter than 4/))
    await assert.rejects(fromFile(dir, 'x'.repeat(65)), refused(/longer than 64/))
    await assert.rejects(fromFile(dir, 'x'.repeat(10_000)), refused(/longer than 64/))
    assert.equal(await fromFile(dir, `${'x'.repeat(64)}\r\n`), 'x'.repeat(64))
  })

  it('from an fd that cannot be read (a directory): PinUnavailableError', async () => {
    const fd = openSync(dir, 'r')
    try {
      await assert.rejects(
        readPin({ fd }),
        (err: Error & { reason?: string }) => err.name === 'PinUnavailableError' && /EISDIR/.test(err.reason ?? '')
      )
    } finally {
      closeSync(fd)
    }
  })

  it('wipes the bytes it decoded', () => {
    const bytes = Buffer.from('123456\n')
    assert.equal(pinFromBytes(bytes, 'test'), '123456')
    assert.ok(bytes.every((byte) => byte === 0))
  })

  it('from a systemd credential in $CREDENTIALS_DIRECTORY', async () => {
    const credentials = path.join(dir, 'credentials')
    mkdirSync(credentials)
    writeFileSync(path.join(credentials, 'token-pin'), '24681357\n')
    const env = { CREDENTIALS_DIRECTORY: credentials }
    assert.equal(await readPin({ credential: 'token-pin' }, { env }), '24681357')
  })

  it('from a credential: refused with $CREDENTIALS_DIRECTORY unset, a path for a name, no file, a link', async () => {
    const credentials = path.join(dir, 'credentials-2')
    mkdirSync(credentials)
    writeFileSync(path.join(dir, 'outside'), '11112222')
    symlinkSync(path.join(dir, 'outside'), path.join(credentials, 'linked'))
    const unavailable = (reason: RegExp) => (err: Error & { reason?: string }) =>
      err.name === 'PinUnavailableError' && reason.test(err.reason ?? '')
    await assert.rejects(
      readPin({ credential: 'token-pin' }, { env: {} }),
      unavailable(/CREDENTIALS_DIRECTORY is not set/)
    )
    const env = { CREDENTIALS_DIRECTORY: credentials }
    await assert.rejects(readPin({ credential: '../outside' }, { env }), unavailable(/not a credential name/))
    await assert.rejects(readPin({ credential: '..' }, { env }), unavailable(/not a credential name/))
    await assert.rejects(readPin({ credential: 'missing' }, { env }), unavailable(/ENOENT/))
    await assert.rejects(readPin({ credential: 'linked' }, { env }), unavailable(/ELOOP/))
  })

  it('from a prompt with no controlling terminal (setsid): PinUnavailableError', async () => {
    const out = path.join(dir, 'no-tty.json')
    const source = JSON.stringify({ prompt: 'PIN: ' })
    execFileSync('setsid', ['-w', process.execPath, CHILD, source, out], { stdio: 'ignore' })
    const result = JSON.parse(readFileSync(out, 'utf8')) as { error?: string; reason?: string }
    assert.equal(result.error, 'PinUnavailableError')
    assert.match(result.reason ?? '', /no controlling terminal/)
  })

  it('from a prompt on a file that is not a terminal: PinUnavailableError', async () => {
    await assert.rejects(
      readPin({ prompt: 'PIN: ' }, { ttyPath: '/dev/null' }),
      (err: Error & { reason?: string }) =>
        err.name === 'PinUnavailableError' && /not a terminal/.test(err.reason ?? '')
    )
  })

  it('from a prompt on a real terminal: read with echo off, Backspace edits, UTF-8 kept', async () => {
    const { result, screen } = await throughPty(dir, { prompt: 'Token PIN: ' }, '12x\x7f34567\u00e9\r')
    assert.deepEqual(result, { pin: '1234567é' })
    assert.match(screen, /Token PIN: /)
    assert.doesNotMatch(screen, /12|34|567|é|x/)
  })

  it('from a prompt: Ctrl-C aborts, Ctrl-D on an empty line gives no PIN', async () => {
    assert.deepEqual((await throughPty(dir, { prompt: 'PIN: ' }, '12\x03')).result, { error: 'AbortedError' })
    assert.deepEqual((await throughPty(dir, { prompt: 'PIN: ' }, '\x04')).result, {
      error: 'PinUnavailableError',
      reason: 'input ended'
    })
  })
})
