/**
 * The only file that loads the native PKCS#11 binding (pkcs11js, an N-API addon maintained by
 * PeculiarVentures and used by their graphene). Everything else talks to a `Pkcs11Api`: the few
 * Cryptoki calls this module makes, with every CK_RV other than CKR_OK thrown as a
 * Pkcs11OperationError naming the C function. Tests give a fake `Pkcs11Api` for answers SoftHSM2
 * never gives (CKR_PIN_LOCKED).
 */
import { createRequire } from 'node:module'
import type * as Pkcs11js from 'pkcs11js'
import { CKF, CKU_USER } from './constants.js'
import { Pkcs11ModuleNotLoadableError, Pkcs11OperationError } from './errors.js'

/** A slot, session or object handle as the module numbers it (a CK_ULONG in native byte order). */
export type Handle = Buffer

/** An attribute to put in a template: CK_ULONG as number, CK_BBOOL as boolean, bytes, or UTF-8 text. */
export interface TemplateAttribute {
  readonly type: number
  readonly value: number | boolean | string | Uint8Array
}

/** CK_TOKEN_INFO, the fields this module reads. Labels and serials come blank-padded. */
export interface TokenInfo {
  readonly label: string
  readonly serialNumber: string
  readonly model: string
  readonly manufacturerId: string
  readonly flags: number
}

/** CKM_AES_GCM parameters (CK_GCM_PARAMS with ulIvBits, as in PKCS#11 2.40 and 3.0). */
export interface GcmParameters {
  readonly iv: Uint8Array
  readonly aad: Uint8Array
  readonly tagBits: number
}

/**
 * The Cryptoki calls this module makes. Each throws Pkcs11OperationError (operation = the C
 * function's name) when the module answers anything but CKR_OK. Calls that return a Promise run
 * on a worker thread; the buffers passed stay referenced until it settles.
 */
export interface Pkcs11Api {
  initialize(): void
  finalize(): void
  /** Unloads the library (dlclose). */
  unload(): void
  slotList(tokenPresent: boolean): Handle[]
  tokenInfo(slot: Handle): TokenInfo
  /** A serial read/write session. */
  openSession(slot: Handle): Handle
  closeSession(session: Handle): void
  /** C_GetSessionInfo's state: throws CKR_SESSION_HANDLE_INVALID for a session closed under us. */
  sessionState(session: Handle): number
  loginUser(session: Handle, pin: string): void
  /** C_FindObjectsInit, C_FindObjects (at most `max`), C_FindObjectsFinal. */
  findObjects(session: Handle, template: TemplateAttribute[], max: number): Handle[]
  /** One attribute's value; throws CKR_ATTRIBUTE_TYPE_INVALID or CKR_ATTRIBUTE_SENSITIVE as the token answers. */
  attribute(session: Handle, object: Handle, type: number): Buffer
  generateKeyPair(
    session: Handle,
    mechanism: number,
    publicTemplate: TemplateAttribute[],
    privateTemplate: TemplateAttribute[]
  ): { publicKey: Handle; privateKey: Handle }
  generateKey(session: Handle, mechanism: number, template: TemplateAttribute[]): Handle
  /** C_SignInit then C_Sign into `out`; resolves to the part of `out` written. */
  sign(session: Handle, mechanism: number, key: Handle, data: Uint8Array, out: Buffer): Promise<Buffer>
  /** C_EncryptInit (AES-GCM) then C_Encrypt into `out`. */
  encrypt(session: Handle, gcm: GcmParameters, key: Handle, data: Uint8Array, out: Buffer): Promise<Buffer>
  /** C_DecryptInit (AES-GCM) then C_Decrypt into `out`, which the caller wipes. */
  decrypt(session: Handle, gcm: GcmParameters, key: Handle, data: Uint8Array, out: Buffer): Promise<Buffer>
  /** The same, on this thread: for MlDsaKey.sign, which is synchronous. */
  decryptSync(session: Handle, gcm: GcmParameters, key: Handle, data: Uint8Array, out: Buffer): Buffer
}

type Pkcs11jsModule = typeof Pkcs11js

/** Loads pkcs11js's addon on first use, so that importing this module never needs the native build. */
function pkcs11js(path: string): Pkcs11jsModule {
  try {
    return createRequire(import.meta.url)('pkcs11js') as Pkcs11jsModule
  } catch (err) {
    const reason = `the pkcs11js binding is not installed or not built: ${String(err)}`
    throw new Pkcs11ModuleNotLoadableError(path, reason, err)
  }
}

/** pkcs11js reports a CK_RV as a Pkcs11Error whose `code` is the number; anything else passes through. */
function translated(operation: string, err: unknown): unknown {
  if (err instanceof Error && err.name === 'Pkcs11Error' && typeof (err as { code?: unknown }).code === 'number') {
    return new Pkcs11OperationError(operation, (err as unknown as { code: number }).code)
  }
  return err
}

function call<T>(operation: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw translated(operation, err)
  }
}

async function callAsync<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw translated(operation, err)
  }
}

function template(attributes: TemplateAttribute[]): Pkcs11js.Template {
  return attributes.map(({ type, value }) => ({
    type,
    value: value instanceof Uint8Array ? Buffer.from(value) : value
  }))
}

/**
 * Opens the library at `path` (dlopen) through pkcs11js. Failing to open it is a
 * Pkcs11ModuleNotLoadableError; initialising it is the caller's next step.
 */
export function loadPkcs11js(path: string): Pkcs11Api {
  const binding = pkcs11js(path)
  const lib = new binding.PKCS11()
  try {
    lib.load(path)
  } catch (err) {
    throw new Pkcs11ModuleNotLoadableError(path, err instanceof Error ? err.message : String(err), err)
  }
  const gcm = (parameters: GcmParameters): Pkcs11js.Mechanism => ({
    mechanism: binding.CKM_AES_GCM,
    parameter: {
      type: binding.CK_PARAMS_AES_GCM_v240,
      iv: Buffer.from(parameters.iv),
      ivBits: parameters.iv.length * 8,
      aad: Buffer.from(parameters.aad),
      tagBits: parameters.tagBits
    } as Pkcs11js.IParams
  })
  return {
    initialize: () => call('C_Initialize', () => lib.C_Initialize({ flags: CKF.OS_LOCKING_OK })),
    finalize: () => call('C_Finalize', () => lib.C_Finalize()),
    unload: () => call('close', () => lib.close()),
    slotList: (tokenPresent) => call('C_GetSlotList', () => lib.C_GetSlotList(tokenPresent)),
    tokenInfo: (slot) =>
      call('C_GetTokenInfo', () => {
        const info = lib.C_GetTokenInfo(slot)
        return {
          label: info.label,
          serialNumber: info.serialNumber,
          model: info.model,
          manufacturerId: info.manufacturerID,
          flags: info.flags
        }
      }),
    openSession: (slot) => call('C_OpenSession', () => lib.C_OpenSession(slot, CKF.SERIAL_SESSION | CKF.RW_SESSION)),
    closeSession: (session) => call('C_CloseSession', () => lib.C_CloseSession(session)),
    sessionState: (session) => call('C_GetSessionInfo', () => lib.C_GetSessionInfo(session).state),
    loginUser: (session, pin) => call('C_Login', () => lib.C_Login(session, CKU_USER, pin)),
    findObjects: (session, attributes, max) => {
      call('C_FindObjectsInit', () => lib.C_FindObjectsInit(session, template(attributes)))
      try {
        return call('C_FindObjects', () => lib.C_FindObjects(session, max))
      } finally {
        call('C_FindObjectsFinal', () => lib.C_FindObjectsFinal(session))
      }
    },
    attribute: (session, object, type) =>
      call('C_GetAttributeValue', () => {
        const [result] = lib.C_GetAttributeValue(session, object, [{ type }])
        return result?.value ?? Buffer.alloc(0)
      }),
    generateKeyPair: (session, mechanism, publicTemplate, privateTemplate) =>
      call('C_GenerateKeyPair', () =>
        lib.C_GenerateKeyPair(session, { mechanism }, template(publicTemplate), template(privateTemplate))
      ),
    generateKey: (session, mechanism, attributes) =>
      call('C_GenerateKey', () => lib.C_GenerateKey(session, { mechanism }, template(attributes))),
    sign: async (session, mechanism, key, data, out) => {
      call('C_SignInit', () => lib.C_SignInit(session, { mechanism }, key))
      return await callAsync('C_Sign', async () => await lib.C_SignAsync(session, Buffer.from(data), out))
    },
    encrypt: async (session, parameters, key, data, out) => {
      call('C_EncryptInit', () => lib.C_EncryptInit(session, gcm(parameters), key))
      return await callAsync('C_Encrypt', async () => await lib.C_EncryptAsync(session, Buffer.from(data), out))
    },
    decrypt: async (session, parameters, key, data, out) => {
      call('C_DecryptInit', () => lib.C_DecryptInit(session, gcm(parameters), key))
      return await callAsync('C_Decrypt', async () => await lib.C_DecryptAsync(session, Buffer.from(data), out))
    },
    decryptSync: (session, parameters, key, data, out) => {
      call('C_DecryptInit', () => lib.C_DecryptInit(session, gcm(parameters), key))
      return call('C_Decrypt', () => lib.C_Decrypt(session, Buffer.from(data), out))
    }
  }
}
