/**
 * Opening a token: the module file is checked, the token found by label, the user PIN checked by
 * the token. SoftHSM2 2.6.1 counts no PIN tries: it sets CKF_USER_PIN_COUNT_LOW after a wrong PIN
 * and never locks, so CKR_PIN_LOCKED and CKF_USER_PIN_LOCKED are tested through a fake module.
 */
import assert from 'node:assert/strict'
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import {
  CKR,
  loadModule,
  openToken,
  Pkcs11OperationError,
  type Handle,
  type Pkcs11Api,
  type TokenInfo
} from '../../src/pkcs11/index.js'
import { tempDir } from '../helpers/devices.js'
import { skipWithoutSoftHsm, SOFTHSM_MODULE, SoftHsm } from '../helpers/softhsm.js'

const CKF_TOKEN_INITIALIZED = 0x400
const CKF_USER_PIN_LOCKED = 0x40000

/** A module with one token, "fake", whose C_Login answers `loginAnswer`. */
function fakeModule(options: { flags?: number; loginAnswer: number }): (path: string) => Pkcs11Api {
  const slot: Handle = Buffer.alloc(8, 1)
  const info: TokenInfo = {
    label: 'fake'.padEnd(32),
    serialNumber: '0001'.padEnd(16),
    model: 'fake'.padEnd(16),
    manufacturerId: 'test'.padEnd(32),
    flags: CKF_TOKEN_INITIALIZED | (options.flags ?? 0)
  }
  const unused = (): never => {
    throw new Error('not used by these tests')
  }
  return () => ({
    initialize: () => {},
    finalize: () => {},
    unload: () => {},
    slotList: () => [slot],
    tokenInfo: () => info,
    openSession: () => Buffer.alloc(8, 2),
    closeSession: () => {},
    sessionState: () => 3,
    loginUser: () => {
      throw new Pkcs11OperationError('C_Login', options.loginAnswer)
    },
    findObjects: unused,
    attribute: unused,
    generateKeyPair: unused,
    generateKey: unused,
    sign: unused,
    encrypt: unused,
    decrypt: unused,
    decryptSync: unused
  })
}

describe('pkcs11: answers SoftHSM2 never gives (fake module)', () => {
  // Any root-owned, non-writable file passes the path check; the fake does the rest.
  const modulePath = process.execPath
  const openFake = async (pin: string, loginAnswer: number): Promise<unknown> =>
    await openToken({ module: modulePath, token: 'fake', pin, load: fakeModule({ loginAnswer }) })

  it('CKR_PIN_LOCKED from C_Login is a Pkcs11PinLockedError naming the token', async () => {
    await assert.rejects(
      openFake('1234', CKR.PIN_LOCKED),
      (err: Error & { token?: string }) => err.name === 'Pkcs11PinLockedError' && err.token === 'fake'
    )
  })

  it('a token flagged CKF_USER_PIN_LOCKED is refused before a PIN is tried', async () => {
    let tried = false
    const load = (p: string): Pkcs11Api => {
      const api = fakeModule({ flags: CKF_USER_PIN_LOCKED, loginAnswer: CKR.PIN_INCORRECT })(p)
      return {
        ...api,
        loginUser: () => {
          tried = true
        }
      }
    }
    await assert.rejects(openToken({ module: modulePath, token: 'fake', pin: '1234', load }), {
      name: 'Pkcs11PinLockedError'
    })
    assert.equal(tried, false)
  })

  it('CKR_DEVICE_REMOVED at login: token absent; another CKR: a Pkcs11OperationError naming it', async () => {
    await assert.rejects(
      openFake('1234', CKR.DEVICE_REMOVED),
      (err: Error & { ckrName?: string }) =>
        err.name === 'Pkcs11TokenAbsentError' && err.ckrName === 'CKR_DEVICE_REMOVED'
    )
    await assert.rejects(
      openFake('1234', 0x31),
      (err: Error & { ckrName?: string; operation?: string }) =>
        err.name === 'Pkcs11OperationError' &&
        err.ckrName === 'CKR_DEVICE_MEMORY' &&
        err.operation === 'log in (C_Login)'
    )
    await assert.rejects(
      openFake('1234', 0x8000_0001),
      (err: Error) => err.name === 'Pkcs11OperationError' && /CKR_0x80000001/.test(err.message)
    )
  })

  it('a PIN out of bounds is refused before the token sees it', async () => {
    await assert.rejects(openFake('12', CKR.OK), { name: 'PinMalformedError' })
    await assert.rejects(openFake('x'.repeat(65), CKR.OK), { name: 'PinMalformedError' })
  })
})

describe('pkcs11: opening a SoftHSM2 token', function () {
  this.timeout(60_000)
  let hsm: SoftHsm

  before(async function () {
    skipWithoutSoftHsm(this)
    hsm = await SoftHsm.create([
      { label: 'alpha', pin: '1234' },
      { label: 'beta', pin: '5678' }
    ])
  })

  beforeEach(() => hsm.use())

  it('opens a token by label, logged in; close() is idempotent and later use is refused', async () => {
    const session = await openToken({ module: SOFTHSM_MODULE, token: 'alpha', pin: '1234' })
    assert.equal(session.token.label, 'alpha')
    assert.equal(session.token.model, 'SoftHSM v2')
    assert.match(session.token.serial, /^[0-9a-f]{16}$/)
    await session.close()
    await session.close()
    await assert.rejects(session.findP256('any'), { name: 'Pkcs11SessionClosedError' })
    // The module was finalised with the session: it loads again.
    await (await openToken({ module: SOFTHSM_MODULE, token: 'alpha', pin: '1234' })).close()
  })

  it('a wrong label is refused, listing the labels seen', async () => {
    await assert.rejects(
      openToken({ module: SOFTHSM_MODULE, token: 'gamma', pin: '1234' }),
      (err: Error & { label?: string; seen?: string[] }) =>
        err.name === 'Pkcs11TokenNotFoundError' &&
        err.label === 'gamma' &&
        [...(err.seen ?? [])].sort().join() === 'alpha,beta' &&
        /"alpha"/.test(err.message) &&
        /"beta"/.test(err.message)
    )
  })

  it('a wrong PIN is Pkcs11PinIncorrectError; SoftHSM2 then flags the count low', async () => {
    await assert.rejects(
      openToken({ module: SOFTHSM_MODULE, token: 'alpha', pin: '0000' }),
      (err: Error & { countLow?: boolean; finalTry?: boolean }) =>
        err.name === 'Pkcs11PinIncorrectError' && err.countLow === true && err.finalTry === false
    )
  })

  it('SoftHSM2 does not lock the PIN: after 12 wrong PINs the right one still opens the token', async () => {
    const module = loadModule(SOFTHSM_MODULE)
    try {
      for (let i = 0; i < 12; i++) {
        await assert.rejects(module.openToken({ token: 'beta', pin: `000${i}` }), { name: 'Pkcs11PinIncorrectError' })
      }
      const session = await module.openToken({ token: 'beta', pin: '5678' })
      await session.close()
    } finally {
      await module.close()
    }
  })

  it('one module opens two tokens; the same token twice and a second load of the library are refused', async () => {
    const module = loadModule(SOFTHSM_MODULE)
    try {
      assert.deepEqual(
        module
          .tokens()
          .map((t) => t.label)
          .sort(),
        ['alpha', 'beta']
      )
      const alpha = await module.openToken({ token: 'alpha', pin: '1234' })
      const beta = await module.openToken({ token: 'beta', pin: '5678' })
      await assert.rejects(module.openToken({ token: 'alpha', pin: '1234' }), { name: 'Pkcs11TokenInUseError' })
      assert.throws(() => loadModule(SOFTHSM_MODULE), { name: 'Pkcs11ModuleInUseError' })
      await alpha.close()
      await (await module.openToken({ token: 'alpha', pin: '1234' })).close()
      await beta.close()
    } finally {
      await module.close()
    }
    await module.close()
    assert.throws(() => module.tokens(), { name: 'Pkcs11ModuleClosedError' })
    await assert.rejects(module.openToken({ token: 'alpha', pin: '1234' }), { name: 'Pkcs11ModuleClosedError' })
  })

  it('a module path that is relative, missing, writable by others or not a library is refused', async () => {
    const dir = await tempDir('fleet-pkcs11-module-')
    const isNotLoadable = (reason: RegExp) => (err: Error & { reason?: string }) =>
      err.name === 'Pkcs11ModuleNotLoadableError' && reason.test(err.reason ?? '')
    const open = async (module: string): Promise<unknown> => await openToken({ module, token: 'alpha', pin: '1234' })
    await assert.rejects(open('libsofthsm2.so'), isNotLoadable(/absolute/))
    await assert.rejects(open(path.join(dir, 'none.so')), isNotLoadable(/ENOENT/))
    const writable = path.join(dir, 'writable.so')
    copyFileSync(SOFTHSM_MODULE, writable)
    chmodSync(writable, 0o666)
    await assert.rejects(open(writable), isNotLoadable(/writable by group or others/))
    const text = path.join(dir, 'text.so')
    writeFileSync(text, 'not a shared object\n')
    chmodSync(text, 0o644)
    await assert.rejects(open(text), isNotLoadable(/.+/))
    await assert.rejects(open(dir), isNotLoadable(/not a regular file/))
  })
})
