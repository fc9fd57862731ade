/**
 * An actor's P-256 key on the actor's own PKCS#11 token, as the owner enrols it: made there by
 * generateP256, or, when the label is taken, the key found under it, checked exactly as a made one
 * (CKA_LOCAL, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, not extractable, signs for its public
 * key). The token is found by label before its PIN is asked for. The session (and the module) is
 * closed before this returns: the owner's own token may sit behind the same module, which a process
 * loads only once at a time.
 *
 * Those checks are the token's word about itself: a module that lies passes them. PKCS#11 has no
 * standard key attestation, but PIV cards (a YubiKey through ykcs11) show one as certificate
 * objects: a statement over the key signed by the card's attestation key, which the vendor's CA
 * certified. The token's certificates are read and judged by keyAttestation: with `roots` named,
 * a key without a statement that chains to one of them is refused; without roots, a statement
 * found is recorded as unverified. The chain becomes actor.enrol's evidence, and the words say
 * what it proved (SoftHSM2 and most HSMs have no attestation: "no attestation").
 */
import type { X509Certificate } from 'node:crypto'
import { allowedModulePath } from '../agent/index.js'
import { concatBytes, systemClock, type Clock } from '../common/index.js'
import {
  Pkcs11KeyNotFoundError,
  Pkcs11TokenNotFoundError,
  keyAttestation,
  loadModule,
  type KeyAttestation,
  type TokenCertificate,
  type TokenDescription,
  type TokenP256Signer,
  type TokenSession
} from '../pkcs11/index.js'

/** What finding or making the actor's key needs. */
export interface ActorTokenInit {
  /** The module's path (absolute), allowed only in `modulePatterns`, as an owner's module is. */
  module: string
  modulePatterns: readonly string[]
  /** The actor's token's label. */
  token: string
  /** The key's label on the token. */
  keyLabel: string
  /** The actor's PIN, asked for once their token is found (never from a command-line flag). */
  pin: (token: TokenDescription) => Promise<string>
  /** Attestation roots (trust anchors) the key's attestation must chain to; absent or empty: none named. */
  roots?: readonly X509Certificate[]
  /** The time certificates are judged at (default: the system clock). */
  clock?: Clock
}

/** The actor's key as the owner records it. */
export interface ActorTokenKey {
  /** SEC1 uncompressed P-256 point. */
  readonly publicKey: Uint8Array
  readonly token: TokenDescription
  readonly keyLabel: string
  /** True when the key was generated now; false when it was on the token already. */
  readonly made: boolean
  /** The key's attestation found on the token; undefined when there is none (and no root was named). */
  readonly attestation: KeyAttestation | undefined
  /** The attestation chain as actor.enrol's evidence: DER, the statement first, concatenated. */
  readonly evidence: Uint8Array | undefined
  /** The token, key and attestation in words, for actor.enrol's `hardware` (at most 256 characters). */
  readonly hardware: string
}

const HARDWARE_MAX = 256

/**
 * The actor's key: found under `keyLabel` on the token, or generated there when no key has the
 * label (and then made to sign once, so that the token shows it holds that very key), with its
 * attestation. Refused, each with its pkcs11 error: a module outside the allowed locations, no
 * such token, a wrong or locked PIN, a key under the label that is not hardware-bound or not
 * usable, a certificate object that is not one, and with roots named an attestation missing or
 * reaching none of them.
 */
export async function actorTokenKey(
  init: ActorTokenInit,
  options: { signal?: AbortSignal } = {}
): Promise<ActorTokenKey> {
  const session = await openActorToken(init, options)
  let key: { signer: TokenP256Signer; made: boolean; token: TokenDescription }
  let certificates: TokenCertificate[]
  try {
    let signer: TokenP256Signer
    let made = false
    try {
      signer = await session.findP256(init.keyLabel, options)
    } catch (err) {
      if (!(err instanceof Pkcs11KeyNotFoundError)) throw err
      signer = await session.generateP256(init.keyLabel, options)
      await session.checkP256(signer, options)
      made = true
    }
    certificates = await session.certificates(options)
    key = { signer, made, token: session.token }
  } finally {
    await session.close()
  }
  const roots = init.roots ?? []
  const attestation = keyAttestation({
    token: key.token.label,
    keyLabel: init.keyLabel,
    publicKey: key.signer.publicKey,
    certificates,
    roots,
    now: new Date((init.clock ?? systemClock).now())
  })
  return {
    publicKey: key.signer.publicKey,
    token: key.token,
    keyLabel: init.keyLabel,
    made: key.made,
    attestation,
    evidence: attestation === undefined ? undefined : concatBytes(...attestation.chain),
    hardware: tokenHardware(key.token, init.keyLabel, attestation)
  }
}

/**
 * The token, key and attestation in words: who made the token, which model, its serial and label,
 * the key's label, and what the attestation proved (who signed it, whether its chain reached a
 * named root, and a YubiKey's firmware, serial and PIN and touch policies). The attestation's words
 * are kept whole; the token's are shortened if both do not fit in HARDWARE_MAX.
 */
export function tokenHardware(
  token: TokenDescription,
  keyLabel: string,
  attestation: KeyAttestation | undefined = undefined
): string {
  const words =
    `PKCS#11 token "${token.label}" (${token.manufacturer} ${token.model}, serial ${token.serial}), ` +
    `P-256 key "${keyLabel}" made on the token, never extractable`
  const attested = `; ${attestationWords(attestation)}`.slice(0, HARDWARE_MAX)
  return words.slice(0, HARDWARE_MAX - attested.length) + attested
}

/** What the attestation proved, in words. */
export function attestationWords(attestation: KeyAttestation | undefined): string {
  if (attestation === undefined) return 'no attestation'
  const proved =
    attestation.root === undefined
      ? 'unverified (no attestation root named)'
      : `chain verified to named root "${attestation.root}"`
  const yubico = attestation.yubico
  const card =
    yubico === undefined
      ? []
      : [
          yubico.firmware === undefined ? [] : [`firmware ${yubico.firmware}`],
          yubico.serial === undefined ? [] : [`serial ${yubico.serial}`],
          yubico.pinPolicy === undefined ? [] : [`PIN ${yubico.pinPolicy}`],
          yubico.touchPolicy === undefined ? [] : [`touch ${yubico.touchPolicy}`]
        ].flat()
  const claims = card.length === 0 ? '' : ` (YubiKey ${card.join(', ')})`
  return `PIV attestation by "${attestation.issuer}", ${proved}${claims}`
}

async function openActorToken(init: ActorTokenInit, options: { signal?: AbortSignal }): Promise<TokenSession> {
  options.signal?.throwIfAborted()
  const module = loadModule(allowedModulePath(init.module, init.modulePatterns))
  try {
    const present = module.tokens()
    const labelled = present.find((description) => description.label === init.token)
    if (labelled === undefined) {
      throw new Pkcs11TokenNotFoundError(
        init.token,
        present.map((description) => description.label)
      )
    }
    const pin = await init.pin(labelled)
    return await module.openToken({ token: init.token, pin }, { signal: options.signal, closeModule: true })
  } catch (err) {
    await module.close()
    throw err
  }
}
