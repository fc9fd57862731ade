/**
 * A token that goes away under an open session. SoftHSM2 2.6.1 cannot be unplugged, but three
 * things it allows look the same to us, and each is measured here:
 *   - the session closed from another handle (C_CloseAllSessions): CKR_SESSION_HANDLE_INVALID;
 *   - the library finalised under the session (C_Finalize): CKR_CRYPTOKI_NOT_INITIALIZED;
 *   - the token's folder removed from the store: C_Sign answers CKR_OBJECT_HANDLE_INVALID and
 *     C_GetTokenInfo CKR_GENERAL_ERROR, while the slot still says a token is present.
 * Each is a Pkcs11TokenAbsentError, and no signature (no half of one) comes back.
 */
import assert from 'node:assert/strict'
import { DOMAIN, HybridSigner, type MlDsaKey } from '../../src/identity/index.js'
import {
  createSealedMlDsaSeed,
  loadModule,
  tokenHybridSigner,
  tokenMlDsaKey,
  type Pkcs11Module,
  type TokenP256Signer
} from '../../src/pkcs11/index.js'
import { raw, rawSlot, skipWithoutSoftHsm, SOFTHSM_MODULE, SoftHsm } from '../helpers/softhsm.js'

const PIN = '4321'
const message = Buffer.from('signed while the token is pulled')

interface Signers {
  module: Pkcs11Module
  p256: TokenP256Signer
  mldsa: MlDsaKey
  hybrid: HybridSigner
}

function isAbsent(token: string, ckrName: string) {
  return (err: Error & { token?: string; ckrName?: string }) =>
    err.name === 'Pkcs11TokenAbsentError' && err.token === token && err.ckrName === ckrName
}

describe('pkcs11: a SoftHSM2 token gone under an open session', function () {
  this.timeout(60_000)
  let hsm: SoftHsm
  let open: Pkcs11Module | undefined

  before(async function () {
    skipWithoutSoftHsm(this)
    const labels = ['closed', 'finalised', 'pulled', 'pulled-2', 'intact']
    hsm = await SoftHsm.create(labels.map((label) => ({ label, pin: PIN })))
  })

  afterEach(async () => {
    await open?.close()
    open = undefined
  })

  /** Keys on the token and signers over them, each checked to work before the token goes. */
  async function signersOn(token: string): Promise<Signers> {
    hsm.use()
    const module = loadModule(SOFTHSM_MODULE)
    open = module
    const session = await module.openToken({ token, pin: PIN })
    const p256 = await session.generateP256('p256')
    const { sealed, publicKey } = await createSealedMlDsaSeed(await session.generateWrapKey('seal'))
    const mldsa = await tokenMlDsaKey(session, 'seal', sealed, publicKey)
    const hybrid = await tokenHybridSigner(session, {
      p256Label: 'p256',
      wrapKeyLabel: 'seal',
      sealedSeed: sealed,
      mldsaPublicKey: publicKey
    })
    await hybrid.sign(DOMAIN.checkpoint, message)
    return { module, p256, mldsa, hybrid }
  }

  async function everySignatureRefused(signers: Signers, check: (err: Error) => boolean): Promise<void> {
    await assert.rejects(signers.p256.sign(message), check)
    await assert.rejects(signers.mldsa.signAsync!(message), check)
    assert.throws(() => signers.mldsa.sign(message), check)
    await assert.rejects(signers.hybrid.sign(DOMAIN.checkpoint, message), check)
  }

  it('the session closed from another handle (C_CloseAllSessions): CKR_SESSION_HANDLE_INVALID', async () => {
    const signers = await signersOn('closed')
    const other = raw()
    try {
      other.C_CloseAllSessions(rawSlot(other, 'closed'))
    } finally {
      other.close()
    }
    await assert.rejects(signers.p256.sign(message), isAbsent('closed', 'CKR_SESSION_HANDLE_INVALID'))
    await everySignatureRefused(signers, (err) => err.name === 'Pkcs11TokenAbsentError')
  })

  it('the library finalised under the session (C_Finalize): CKR_CRYPTOKI_NOT_INITIALIZED', async () => {
    const signers = await signersOn('finalised')
    const other = raw()
    try {
      other.C_Finalize()
    } finally {
      other.close()
    }
    await everySignatureRefused(signers, isAbsent('finalised', 'CKR_CRYPTOKI_NOT_INITIALIZED'))
  })

  it("the token's folder removed: CKR_OBJECT_HANDLE_INVALID, and the token no longer answers", async () => {
    const signers = await signersOn('pulled')
    hsm.removeToken('pulled')
    await assert.rejects(signers.p256.sign(message), isAbsent('pulled', 'CKR_OBJECT_HANDLE_INVALID'))
    await everySignatureRefused(signers, (err) => err.name === 'Pkcs11TokenAbsentError')
    assert.equal(
      signers.module.tokens().some((t) => t.label === 'pulled'),
      false
    )
  })

  it('a hybrid whose P-256 half signs on a present token and whose ML-DSA token is pulled gives nothing', async () => {
    const signers = await signersOn('pulled-2')
    const intact = await signers.module.openToken({ token: 'intact', pin: PIN })
    const p256 = await intact.generateP256('p256')
    const hybrid = new HybridSigner(p256, signers.mldsa)
    await hybrid.sign(DOMAIN.checkpoint, message)
    hsm.removeToken('pulled-2')
    await assert.rejects(hybrid.sign(DOMAIN.checkpoint, message), { name: 'Pkcs11TokenAbsentError' })
    // The other token signs on: only the pulled one is absent.
    assert.equal((await p256.sign(message)).length, 64)
  })
})
