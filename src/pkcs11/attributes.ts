/**
 * Reading key attributes strictly, and the rule for a hardware-bound key.
 */
import { endianness } from 'node:os'
import { CKA, CKA_NAMES } from './constants.js'
import type { Handle, Pkcs11Api } from './binding.js'
import { Pkcs11AttributeMalformedError, Pkcs11OperationError, type FailedKeyAttribute } from './errors.js'
import { CKR } from './return-codes.js'
import { ATTRIBUTE_MAX_BYTES } from './limits.js'

/**
 * What a key must show to be trusted as made on the token and never out of it. CKA_EXTRACTABLE
 * false and CKA_SENSITIVE true alone are not enough: an imported key (softhsm2-util --import) has
 * both, and so has a key generated extractable and switched to non-extractable afterwards
 * (allowed by PKCS#11). CKA_LOCAL says the token made it; CKA_NEVER_EXTRACTABLE and
 * CKA_ALWAYS_SENSITIVE say it was never exportable or readable at any time. The token sets these
 * three itself and no one can change them.
 */
export const HARDWARE_BOUND: ReadonlyArray<{ type: number; expected: boolean }> = [
  { type: CKA.EXTRACTABLE, expected: false },
  { type: CKA.SENSITIVE, expected: true },
  { type: CKA.LOCAL, expected: true },
  { type: CKA.NEVER_EXTRACTABLE, expected: true },
  { type: CKA.ALWAYS_SENSITIVE, expected: true }
]

/** A CK_BBOOL: exactly one byte, 0 or 1. */
export function decodeBool(type: number, value: Uint8Array): boolean {
  if (value.length !== 1 || value[0]! > 1) {
    const reason = `a CK_BBOOL is one byte 0 or 1, got ${value.length} bytes`
    throw new Pkcs11AttributeMalformedError(attributeName(type), reason)
  }
  return value[0] === 1
}

/** A CK_ULONG in the platform's byte order: 8 bytes on 64-bit Unix, 4 on Windows and 32-bit. */
export function decodeUlong(type: number, value: Uint8Array): number {
  const view = new DataView(value.buffer, value.byteOffset, value.length)
  const little = endianness() === 'LE'
  if (value.length === 4) return view.getUint32(0, little)
  if (value.length === 8) {
    const number = view.getBigUint64(0, little)
    if (number <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(number)
  }
  throw new Pkcs11AttributeMalformedError(attributeName(type), `a CK_ULONG is 4 or 8 bytes, got ${value.length}`)
}

export function attributeName(type: number): string {
  return CKA_NAMES[type] ?? `CKA_0x${type.toString(16)}`
}

/** Reads one attribute, bounded in size (ATTRIBUTE_MAX_BYTES unless `maxBytes` says otherwise). */
export function readAttribute(
  api: Pkcs11Api,
  session: Handle,
  object: Handle,
  type: number,
  maxBytes = ATTRIBUTE_MAX_BYTES
): Buffer {
  const value = api.attribute(session, object, type)
  if (value.length > maxBytes) {
    const reason = `${value.length} bytes, more than ${maxBytes}`
    throw new Pkcs11AttributeMalformedError(attributeName(type), reason)
  }
  return value
}

/** Reads an attribute; undefined when the object does not have it or the token will not tell. */
export function readOptional(api: Pkcs11Api, session: Handle, object: Handle, type: number): Buffer | undefined {
  try {
    return readAttribute(api, session, object, type)
  } catch (err) {
    if (
      err instanceof Pkcs11OperationError &&
      (err.ckr === CKR.ATTRIBUTE_TYPE_INVALID || err.ckr === CKR.ATTRIBUTE_SENSITIVE)
    )
      return undefined
    throw err
  }
}

/** Reads a CK_BBOOL attribute; undefined when the object does not have it or the token will not tell. */
export function readBoolOrUndefined(
  api: Pkcs11Api,
  session: Handle,
  object: Handle,
  type: number
): boolean | undefined {
  const value = readOptional(api, session, object, type)
  return value === undefined ? undefined : decodeBool(type, value)
}

/**
 * The attributes of HARDWARE_BOUND that the object fails, each with what it showed (undefined if
 * unreadable, which fails too). Empty when the key passes.
 */
export function hardwareBoundFailures(api: Pkcs11Api, session: Handle, object: Handle): FailedKeyAttribute[] {
  const failing: FailedKeyAttribute[] = []
  for (const { type, expected } of HARDWARE_BOUND) {
    const actual = readBoolOrUndefined(api, session, object, type)
    if (actual !== expected) failing.push({ attribute: attributeName(type), expected, actual })
  }
  return failing
}
