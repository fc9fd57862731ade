/**
 * A token as its slot describes it (CK_TOKEN_INFO), without the blank padding of its fixed-size
 * text fields.
 */
import type { TokenInfo } from './binding.js'

export interface TokenDescription {
  readonly label: string
  readonly serial: string
  readonly model: string
  readonly manufacturer: string
}

export function describe(info: TokenInfo): TokenDescription {
  return {
    label: unpad(info.label),
    serial: unpad(info.serialNumber),
    model: unpad(info.model),
    manufacturer: unpad(info.manufacturerId)
  }
}

/** True when `info` is the token `expected` (same label and serial): not another one put in the slot. */
export function sameToken(info: TokenInfo, expected: TokenDescription): boolean {
  return unpad(info.label) === expected.label && unpad(info.serialNumber) === expected.serial
}

function unpad(text: string): string {
  return text.replace(/ +$/, '')
}
