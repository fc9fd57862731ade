/**
 * A token-held owner on SoftHSM2 tokens, in this process: made by initTokenOwner, unlocked by
 * unlockOwner, and every way the token, its keys or owner.json can be other than at init refused
 * with its own error, the PIN not even asked for when the token is not the owner's.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { copyFileSync, realpathSync } from 'node:fs'
import path from 'node:path'
import {
  initTokenOwner,
  readOwnerState,
  unlockOwner,
  verifyGenesis,
  writeOwnerState,
  type TokenAccess,
  type TokenOwnerState
} from '../../../src/agent/index.js'
import { DOMAIN, verifyHybrid, verifyP256 } from '../../../src/identity/index.js'
import { openToken, type Pkcs11Api, type TokenDescription } from '../../../src/pkcs11/index.js'
import { loadPkcs11js } from '../../../src/pkcs11/binding.js'
import { CKA } from '../../../src/pkcs11/constants.js'
import { tempDir } from '../../helpers/devices.js'
import { skipWithoutSoftHsm, SOFTHSM_MODULE, SoftHsm, withRawSession } from '../../helpers/softhsm.js'

const PIN = '24681357'

/** A PIN source that counts how often, and for which token, it was asked. */
function pinSource(pin = PIN): TokenAccess['pin'] & { asked: TokenDescription[] } {
  const asked: TokenDescription[] = []
  return Object.assign(
    async (token: TokenDescription) => {
      asked.push(token)
      return pin
    },
    { asked }
  )
}

/** Destroys every object labelled `label` on the token (a key replaced under the owner's label). */
function destroyLabelled(hsm: SoftHsm, label: string): void {
  withRawSession(hsm, 'owner', PIN, (lib, session) => {
    lib.C_FindObjectsInit(session, [{ type: lib.constants.CKA_LABEL, value: label }])
    const found: Buffer[] = []
    for (let handle = lib.C_FindObjects(session); handle !== null; handle = lib.C_FindObjects(session))
      found.push(handle)
    lib.C_FindObjectsFinal(session)
    assert.ok(found.length > 0, `no object labelled ${label}`)
    for (const handle of found) lib.C_DestroyObject(session, handle)
  })
}

describe('agent/owner: an owner whose keys are on a PKCS#11 token (SoftHSM2)', function () {
  this.timeout(60_000)
  let hsm: SoftHsm
  let dir: string
  let count = 0

  before(async function () {
    skipWithoutSoftHsm(this)
    hsm = await SoftHsm.create([{ label: 'owner', pin: PIN }])
    dir = await tempDir('fleet-token-owner-')
  })

  beforeEach(() => {
    hsm?.use()
  })

  /** A new owner on the token, its keys under labels of their own. */
  async function newOwner(access: Partial<TokenAccess> = {}): Promise<TokenOwnerState> {
    count += 1
    return await initTokenOwner(
      {
        module: SOFTHSM_MODULE,
        token: 'owner',
        keyLabel: `owner-${count}`,
        name: `fleet ${count}`,
        tcti: 'swtpm:path=/nonexistent',
        now: () => new Date(1_800_000_000_000)
      },
      { pin: pinSource(), ...access }
    )
  }

  it('makes the P-256 and wrap keys on the token, and a genesis signed by the hybrid they make', async () => {
    const pin = pinSource()
    const state = await newOwner({ pin })
    assert.equal(pin.asked.length, 1)
    assert.equal(pin.asked[0]!.label, 'owner')
    assert.deepEqual(state.pkcs11.token, { label: 'owner', serial: pin.asked[0]!.serial })
    assert.deepEqual([state.pkcs11.p256.label, state.pkcs11.wrapKey.label], [`owner-${count}`, `owner-${count}-seal`])
    const verified = verifyGenesis(Buffer.from(state.genesis.statement, 'base64'), {
      p256: Buffer.from(state.genesis.p256, 'base64'),
      mldsa65: Buffer.from(state.genesis.mldsa65, 'base64')
    })
    assert.equal(verified.fleetId, state.fleetId)
    assert.deepEqual(Buffer.from(verified.ownerKey.p256), Buffer.from(state.pkcs11.p256.publicKey, 'base64'))
    // Both keys are on the token, hardware-bound: found and checked as the pkcs11 module finds them.
    const session = await openToken({ module: SOFTHSM_MODULE, token: 'owner', pin: PIN })
    try {
      const p256 = await session.findP256(state.pkcs11.p256.label)
      assert.deepEqual(Buffer.from(p256.publicKey), Buffer.from(verified.ownerKey.p256))
      await session.findWrapKey(state.pkcs11.wrapKey.label)
    } finally {
      await session.close()
    }
    // The state reads back strictly, as written.
    await writeOwnerState(path.join(dir, 'made'), state)
    assert.deepEqual(await readOwnerState(path.join(dir, 'made')), state)
  })

  it("unlocks a signer whose hybrid signatures and P-256 authority are the genesis statement's owner key", async () => {
    const state = await newOwner()
    const pin = pinSource()
    const owner = await unlockOwner(state, { pin })
    try {
      const genesis = verifyGenesis(Buffer.from(state.genesis.statement, 'base64'), {
        p256: Buffer.from(state.genesis.p256, 'base64'),
        mldsa65: Buffer.from(state.genesis.mldsa65, 'base64')
      })
      const message = Buffer.from('device.revoke …')
      verifyHybrid(genesis.ownerKey, DOMAIN.statement, message, await owner.signer.sign(DOMAIN.statement, message))
      // What a device's TPM checks for TPM2_PolicyAuthorize: ECDSA over SHA-256 by the owner's P-256 key.
      const approval = crypto.randomBytes(64)
      assert.deepEqual(Buffer.from(owner.signer.authority.publicKey), Buffer.from(genesis.ownerKey.p256))
      assert.ok(verifyP256(genesis.ownerKey.p256, approval, await owner.signer.authority.sign(approval)))
      assert.equal(pin.asked.length, 1)
    } finally {
      await owner.close()
    }
    // close() logged out and unloaded the module: it loads again.
    await (await unlockOwner(state, { pin: pinSource() })).close()
  })

  it('init refuses a token that makes extractable keys, and a label that a key has already', async () => {
    const extractable = (modulePath: string): Pkcs11Api => {
      const api = loadPkcs11js(modulePath)
      return {
        ...api,
        generateKeyPair: (session, mechanism, publicTemplate, privateTemplate) =>
          api.generateKeyPair(
            session,
            mechanism,
            publicTemplate,
            privateTemplate.map((a) => (a.type === CKA.EXTRACTABLE ? { type: a.type, value: true } : a))
          )
      }
    }
    await assert.rejects(
      newOwner({ load: extractable }),
      (err: Error & { failing?: Array<{ attribute: string }> }) =>
        err.name === 'Pkcs11KeyNotHardwareBoundError' &&
        (err.failing ?? []).some((failing) => failing.attribute === 'CKA_EXTRACTABLE')
    )
    const taken = await newOwner()
    await assert.rejects(
      initTokenOwner(
        {
          module: SOFTHSM_MODULE,
          token: 'owner',
          keyLabel: taken.pkcs11.p256.label,
          name: 'again',
          tcti: 'x',
          now: () => new Date()
        },
        { pin: pinSource() }
      ),
      { name: 'Pkcs11KeyExistsError' }
    )
  })

  it('refuses a wrong PIN (the token says so) and unlocks nothing', async () => {
    const state = await newOwner()
    await assert.rejects(unlockOwner(state, { pin: pinSource('13572468') }), { name: 'Pkcs11PinIncorrectError' })
  })

  it('refuses, before the PIN is asked for: no token with the label, a token of another serial', async () => {
    const state = await newOwner()
    const absent = await SoftHsm.create([{ label: 'spare', pin: PIN }])
    absent.use()
    const pin = pinSource()
    await assert.rejects(
      unlockOwner(state, { pin }),
      (err: Error & { seen?: string[] }) => err.name === 'Pkcs11TokenNotFoundError' && err.seen?.[0] === 'spare'
    )
    // A token planted under the owner's label, holding keys under the owner's labels.
    const planted = await SoftHsm.create([{ label: 'owner', pin: PIN }])
    planted.use()
    const session = await openToken({ module: SOFTHSM_MODULE, token: 'owner', pin: PIN })
    await session.generateP256(state.pkcs11.p256.label)
    await session.generateWrapKey(state.pkcs11.wrapKey.label)
    await session.close()
    await assert.rejects(
      unlockOwner(state, { pin }),
      (err: Error & { expectedSerial?: string; serials?: string[] }) =>
        err.name === 'OwnerTokenMismatchError' &&
        err.expectedSerial === state.pkcs11.token.serial &&
        err.serials?.length === 1 &&
        err.serials[0] !== state.pkcs11.token.serial
    )
    assert.equal(pin.asked.length, 0)
  })

  it('refuses a module outside the allowed locations without loading it or asking for the PIN', async () => {
    const state = await newOwner()
    const copy = path.join(dir, 'libsofthsm2.so')
    copyFileSync(realpathSync(SOFTHSM_MODULE), copy)
    const pin = pinSource()
    let loaded = 0
    const load = (modulePath: string): Pkcs11Api => {
      loaded += 1
      return loadPkcs11js(modulePath)
    }
    const moved = { ...state, pkcs11: { ...state.pkcs11, module: copy } }
    await assert.rejects(
      unlockOwner(moved, { pin, load }),
      (err: Error & { reason?: string }) =>
        err.name === 'OwnerModuleRefusedError' && /not in an allowed location/.test(err.reason ?? '')
    )
    await assert.rejects(unlockOwner(state, { pin, load, modulePatterns: ['/opt/*'] }), {
      name: 'OwnerModuleRefusedError'
    })
    assert.deepEqual([loaded, pin.asked.length], [0, 0])
  })

  it("refuses the owner's P-256 label on another key: a new one made there, or an imported one", async () => {
    const state = await newOwner()
    destroyLabelled(hsm, state.pkcs11.p256.label)
    hsm.use()
    const session = await openToken({ module: SOFTHSM_MODULE, token: 'owner', pin: PIN })
    const replacement = await session.generateP256(state.pkcs11.p256.label)
    await session.close()
    await assert.rejects(
      unlockOwner(state, { pin: pinSource() }),
      (err: Error & { expected?: string; actual?: string }) =>
        err.name === 'OwnerKeyMismatchError' &&
        err.expected === Buffer.from(state.pkcs11.p256.publicKey, 'base64').toString('hex') &&
        err.actual === Buffer.from(replacement.publicKey).toString('hex')
    )
    destroyLabelled(hsm, state.pkcs11.p256.label)
    const pem = crypto
      .generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
    hsm.importKey('owner', PIN, state.pkcs11.p256.label, pem.toString())
    hsm.use()
    await assert.rejects(unlockOwner(state, { pin: pinSource() }), { name: 'Pkcs11KeyNotHardwareBoundError' })
  })

  it('refuses a sealed seed changed in owner.json: the token will not unseal it', async () => {
    const state = await newOwner()
    const sealed = Buffer.from(state.pkcs11.mldsa.sealed, 'base64')
    sealed[20]! ^= 1
    const changed = {
      ...state,
      pkcs11: { ...state.pkcs11, mldsa: { ...state.pkcs11.mldsa, sealed: sealed.toString('base64') } }
    }
    await assert.rejects(unlockOwner(changed, { pin: pinSource() }), { name: 'Pkcs11UnsealRefusedError' })
  })
})
