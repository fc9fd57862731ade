/**
 * Real SoftHSM2 tokens for tests: each fixture has its own token folder and configuration file in
 * a temp dir (removed when the run ends), made with softhsm2-util as an operator would. SoftHSM2
 * reads SOFTHSM2_CONF at C_Initialize, so use() points the process at a fixture before a module
 * is loaded.
 *
 * `raw()` gives pkcs11js itself, for what the module under test must never do: generate an
 * extractable key, close every session from another handle, finalise the library under it.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type * as Pkcs11js from 'pkcs11js'
import { tempDir } from './devices.js'

/** Debian 12's softhsm2 puts the module in /usr/lib/x86_64-linux-gnu/softhsm/; this link points to it. */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so'
export const SO_PIN = '87654321'

export function haveSoftHsm(): boolean {
  if (!existsSync(SOFTHSM_MODULE)) return false
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

let told = false

/** In a before() hook: skips the suite when SoftHSM2 is not installed, saying why once per run. */
export function skipWithoutSoftHsm(context: Mocha.Context): void {
  if (haveSoftHsm()) return
  if (!told) {
    told = true
    process.stderr.write(
      'skipping the SoftHSM2 tests: softhsm2 is not installed ' +
        `(no softhsm2-util or ${SOFTHSM_MODULE}); scripts/bootstrap.sh installs it\n`
    )
  }
  context.skip()
}

export class SoftHsm {
  readonly dir: string
  readonly conf: string
  private readonly serials = new Map<string, string>()

  private constructor(dir: string) {
    this.dir = dir
    this.conf = path.join(dir, 'softhsm2.conf')
  }

  /** A fresh token store with these tokens, each with a user PIN (the SO PIN is SO_PIN). */
  static async create(tokens: Array<{ label: string; pin: string }>): Promise<SoftHsm> {
    const hsm = new SoftHsm(await tempDir('fleet-softhsm-'))
    const store = path.join(hsm.dir, 'tokens')
    mkdirSync(store)
    writeFileSync(hsm.conf, `directories.tokendir = ${store}\nobjectstore.backend = file\nlog.level = ERROR\n`)
    for (const { label, pin } of tokens) {
      hsm.util(['--init-token', '--free', '--label', label, '--so-pin', SO_PIN, '--pin', pin])
      hsm.serials.set(label, hsm.serialOf(label))
    }
    return hsm
  }

  /** Points this process's SoftHSM2 at this store; call before loading the module. */
  use(): void {
    process.env.SOFTHSM2_CONF = this.conf
  }

  util(args: string[]): string {
    return execFileSync('softhsm2-util', args, { env: { ...process.env, SOFTHSM2_CONF: this.conf }, encoding: 'utf8' })
  }

  /** Imports a PKCS#8 PEM private key (and its public key) as softhsm2-util --import does. */
  importKey(token: string, pin: string, label: string, pem: string): void {
    const file = path.join(this.dir, `${label}.pem`)
    writeFileSync(file, pem)
    this.util(['--import', file, '--token', token, '--label', label, '--id', 'a1', '--pin', pin])
    rmSync(file)
  }

  /** Removes a token's folder from the store, as if the token were pulled out. */
  removeToken(label: string): void {
    const serial = this.serials.get(label)
    if (serial === undefined) throw new Error(`no token ${label} in this store`)
    const store = path.join(this.dir, 'tokens')
    const folder = readdirSync(store).find((name) => name.replaceAll('-', '').endsWith(serial))
    if (folder === undefined) throw new Error(`no folder for token ${label} (serial ${serial})`)
    rmSync(path.join(store, folder), { recursive: true, force: true })
  }

  private serialOf(label: string): string {
    const slots = this.util(['--show-slots']).split(/\n(?=Slot )/)
    const slot = slots.find((text) => new RegExp(`Label:\\s+${label}\\s*$`, 'm').test(text))
    const serial = slot === undefined ? undefined : /Serial number:\s+([0-9a-f]+)/.exec(slot)?.[1]
    if (serial === undefined) throw new Error(`softhsm2-util --show-slots does not show token ${label}`)
    return serial
  }
}

export type RawPkcs11 = Pkcs11js.PKCS11 & { constants: typeof Pkcs11js }

/**
 * pkcs11js on the SoftHSM2 library. In one process a library is loaded once, so this handle
 * shares the state (initialisation, sessions, login) of the module under test.
 */
export function raw(): RawPkcs11 {
  const binding = createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11js
  const lib = new binding.PKCS11() as RawPkcs11
  lib.load(SOFTHSM_MODULE)
  lib.constants = binding
  return lib
}

/** The slot of the token with this label, through a raw handle. */
export function rawSlot(lib: RawPkcs11, label: string): Buffer {
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === label)
  if (slot === undefined) throw new Error(`no token ${label}`)
  return slot
}

/**
 * Runs `use` on a raw, logged-in session of its own initialisation: for setting up keys before the
 * module under test is loaded. Finalises and unloads after.
 */
export function withRawSession<T>(
  hsm: SoftHsm,
  token: string,
  pin: string,
  use: (lib: RawPkcs11, session: Buffer) => T
): T {
  hsm.use()
  const lib = raw()
  lib.C_Initialize()
  try {
    const flags = lib.constants.CKF_SERIAL_SESSION | lib.constants.CKF_RW_SESSION
    const session = lib.C_OpenSession(rawSlot(lib, token), flags)
    lib.C_Login(session, lib.constants.CKU_USER, pin)
    return use(lib, session)
  } finally {
    lib.C_Finalize()
    lib.close()
  }
}

/** The DER OID of prime256v1, as CKA_EC_PARAMS holds it. */
const PRIME256V1 = Buffer.from('06082a8648ce3d030107', 'hex')

/** A key pair made with raw PKCS#11, its private key sensitive and extractable or not as given. */
export function rawKeyPair(
  lib: RawPkcs11,
  session: Buffer,
  label: string,
  sensitive: boolean,
  extractable: boolean
): void {
  const c = lib.constants
  const privateAttributes = [
    { type: c.CKA_SENSITIVE, value: sensitive },
    { type: c.CKA_EXTRACTABLE, value: extractable }
  ]
  lib.C_GenerateKeyPair(
    session,
    { mechanism: c.CKM_EC_KEY_PAIR_GEN },
    [
      { type: c.CKA_TOKEN, value: true },
      { type: c.CKA_LABEL, value: label },
      { type: c.CKA_EC_PARAMS, value: PRIME256V1 },
      { type: c.CKA_VERIFY, value: true }
    ],
    [
      { type: c.CKA_TOKEN, value: true },
      { type: c.CKA_LABEL, value: label },
      { type: c.CKA_PRIVATE, value: true },
      { type: c.CKA_SIGN, value: true },
      ...privateAttributes
    ]
  )
}

/**
 * A CKO_CERTIFICATE object (X.509, a token object) made with raw PKCS#11: `value` as CKA_VALUE,
 * whatever it holds. SoftHSM2 needs a CKA_SUBJECT and does not compare it with the value.
 */
export function rawCertificate(
  lib: RawPkcs11,
  session: Buffer,
  object: { label: string; value: Uint8Array; subject: Uint8Array; id?: Uint8Array }
): void {
  const c = lib.constants
  lib.C_CreateObject(session, [
    { type: c.CKA_CLASS, value: c.CKO_CERTIFICATE },
    { type: c.CKA_CERTIFICATE_TYPE, value: c.CKC_X_509 },
    { type: c.CKA_TOKEN, value: true },
    { type: c.CKA_LABEL, value: object.label },
    ...(object.id === undefined ? [] : [{ type: c.CKA_ID, value: Buffer.from(object.id) }]),
    { type: c.CKA_SUBJECT, value: Buffer.from(object.subject) },
    { type: c.CKA_VALUE, value: Buffer.from(object.value) }
  ])
}
