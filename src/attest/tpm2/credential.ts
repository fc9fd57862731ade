import crypto from 'node:crypto'
import { DIGEST_SIZE, type HashAlg } from '../pcrs.js'
import { TPM_ALG } from './constants.js'
import { TpmWriter } from './reader.js'
import { publicKey, type TpmPublic } from './public.js'
import { UnsupportedAlgorithmError } from './errors.js'

/** KDFa (TPM 2.0 Part 1, §11.4.10.2): HMAC-based counter-mode KDF. */
export function kdfa (hash: HashAlg, key: Uint8Array, label: string, contextU: Uint8Array, contextV: Uint8Array, bits: number): Uint8Array {
  const out: Buffer[] = []
  let produced = 0
  for (let counter = 1; produced < bits / 8; counter++) {
    const block = crypto.createHmac(hash, key)
      .update(new TpmWriter().u32(counter).finish())
      .update(Buffer.from(label, 'ascii')).update(Buffer.of(0))
      .update(contextU).update(contextV)
      .update(new TpmWriter().u32(bits).finish())
      .digest()
    out.push(block)
    produced += block.length
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, bits / 8))
}

export interface MadeCredential {
  /** TPM2B_ID_OBJECT */
  credentialBlob: Uint8Array
  /** TPM2B_ENCRYPTED_SECRET */
  secret: Uint8Array
}

/** KDFe (TPM 2.0 Part 1, §11.4.10.3): the ECDH key-derivation function. */
export function kdfe (hash: HashAlg, z: Uint8Array, label: string, partyU: Uint8Array, partyV: Uint8Array, bits: number): Uint8Array {
  const out: Buffer[] = []
  let produced = 0
  for (let counter = 1; produced < bits / 8; counter++) {
    const block = crypto.createHash(hash).update(new TpmWriter().u32(counter).finish()).update(z)
      .update(Buffer.from(label, 'ascii')).update(Buffer.of(0)).update(partyU).update(partyV).digest()
    out.push(block)
    produced += block.length
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, bits / 8))
}

const ECDH_CURVES: Record<number, { name: string, size: number }> = { 0x0003: { name: 'prime256v1', size: 32 }, 0x0004: { name: 'secp384r1', size: 48 } }

/**
 * The seed and its encryption for the EK: RSA-OAEP with label "IDENTITY" for RSA EKs; for ECC EKs
 * an ephemeral ECDH key, seed = KDFe(Z, "IDENTITY", ephemeral x, EK x) (Part 1, Annex C.6.4).
 */
function encryptSeed (ek: TpmPublic, random: (n: number) => Uint8Array): { seed: Uint8Array, encryptedSeed: Uint8Array } {
  const size = DIGEST_SIZE[ek.nameAlg]
  if (ek.type === 'rsa') {
    const seed = random(size)
    const encrypted = crypto.publicEncrypt({ key: publicKey(ek), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: ek.nameAlg, oaepLabel: Buffer.from('IDENTITY\0', 'ascii') }, seed)
    return { seed, encryptedSeed: new Uint8Array(encrypted) }
  }
  if (ek.type === 'ecc') {
    const curve = ECDH_CURVES[ek.curve]
    if (curve === undefined) throw new UnsupportedAlgorithmError('EK curve', ek.curve)
    const ecdh = crypto.createECDH(curve.name)
    ecdh.setPrivateKey(Buffer.from(random(curve.size)))
    const ephemeral = ecdh.getPublicKey()
    const z = ecdh.computeSecret(Buffer.concat([Buffer.of(4), ek.x, ek.y]))
    const ephemeralX = ephemeral.subarray(1, 1 + curve.size)
    const ephemeralY = ephemeral.subarray(1 + curve.size)
    const seed = kdfe(ek.nameAlg, z, 'IDENTITY', ephemeralX, ek.x, size * 8)
    return { seed, encryptedSeed: new TpmWriter().tpm2b(ephemeralX).tpm2b(ephemeralY).finish() }
  }
  throw new UnsupportedAlgorithmError('EK type for MakeCredential', TPM_ALG.KEYEDHASH)
}

/**
 * TPM2_MakeCredential in software (TPM 2.0 Part 1, §24): only the TPM holding the EK can recover
 * `credential`, and only for the object whose Name is `objectName` — proving that object (the AK)
 * lives beside that EK. RSA and ECC (P-256, P-384) EKs.
 */
export function makeCredential (input: { ekPublic: TpmPublic, objectName: Uint8Array, credential: Uint8Array, random: (n: number) => Uint8Array }): MadeCredential {
  const ek = input.ekPublic
  if (ek.type === 'keyedhash') throw new UnsupportedAlgorithmError('EK type for MakeCredential', TPM_ALG.KEYEDHASH)
  if (ek.symmetric.algorithm !== TPM_ALG.AES || ek.symmetric.mode !== TPM_ALG.CFB) throw new UnsupportedAlgorithmError('EK symmetric', ek.symmetric.algorithm)
  if (input.credential.length > DIGEST_SIZE[ek.nameAlg]) throw new UnsupportedAlgorithmError('credential length', input.credential.length)
  const nameAlg = ek.nameAlg
  const { seed, encryptedSeed } = encryptSeed(ek, input.random)
  const keyBits = ek.symmetric.keyBits ?? 128
  const symmetricKey = kdfa(nameAlg, seed, 'STORAGE', input.objectName, new Uint8Array(0), keyBits)
  const plaintext = new TpmWriter().tpm2b(input.credential).finish()
  const cipher = crypto.createCipheriv(`aes-${keyBits}-cfb`, symmetricKey, Buffer.alloc(16))
  const encIdentity = Buffer.concat([cipher.update(plaintext), cipher.final()])
  const hmacKey = kdfa(nameAlg, seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), DIGEST_SIZE[nameAlg] * 8)
  const integrity = crypto.createHmac(nameAlg, hmacKey).update(encIdentity).update(input.objectName).digest()
  const idObject = new TpmWriter().tpm2b(integrity).raw(encIdentity).finish()
  return {
    credentialBlob: new TpmWriter().tpm2b(idObject).finish(),
    secret: new TpmWriter().tpm2b(encryptedSeed).finish()
  }
}
