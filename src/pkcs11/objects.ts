/**
 * Finding a key object by label: exactly one, or a named refusal.
 */
import type { Handle, Pkcs11Api, TemplateAttribute } from './binding.js'
import { CKA } from './constants.js'
import { Pkcs11KeyAmbiguousError, Pkcs11KeyExistsError, Pkcs11KeyNotFoundError, type TokenKeyKind } from './errors.js'
import { KEY_LABEL_MAX_BYTES, OBJECTS_PER_SEARCH } from './limits.js'

/** Where a key is looked for: the token's label (for errors), a session, the key's label and kind. */
export interface KeySearch {
  readonly api: Pkcs11Api
  readonly session: Handle
  readonly token: string
  readonly label: string
  readonly kind: TokenKeyKind
}

/** Key labels are 1 to KEY_LABEL_MAX_BYTES bytes of UTF-8 with no control characters. */
export function checkKeyLabel(label: string): void {
  const bytes = Buffer.byteLength(label)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (bytes === 0 || bytes > KEY_LABEL_MAX_BYTES || /[\u0000-\u001f\u007f]/.test(label)) {
    throw new RangeError(`a key label is 1 to ${KEY_LABEL_MAX_BYTES} bytes of text without control characters`)
  }
}

function matching(search: KeySearch, template: TemplateAttribute[]): Handle[] {
  const labelled = [...template, { type: CKA.LABEL, value: search.label }]
  return search.api.findObjects(search.session, labelled, OBJECTS_PER_SEARCH)
}

/** The one object with the label that matches `template`; refused when there is none or more than one. */
export function findOne(search: KeySearch, template: TemplateAttribute[]): Handle {
  const found = matching(search, template)
  if (found.length === 0) throw new Pkcs11KeyNotFoundError(search.token, search.label, search.kind)
  if (found.length > 1) throw new Pkcs11KeyAmbiguousError(search.token, search.label, search.kind, found.length)
  return found[0]!
}

/** The one object, or undefined when there is none; more than one is refused. */
export function findOneOrNone(search: KeySearch, template: TemplateAttribute[]): Handle | undefined {
  const found = matching(search, template)
  if (found.length > 1) throw new Pkcs11KeyAmbiguousError(search.token, search.label, search.kind, found.length)
  return found[0]
}

/** Refuses to generate under a label that any object matching one of `templates` already has. */
export function ensureLabelFree(search: KeySearch, templates: TemplateAttribute[][]): void {
  for (const template of templates) {
    if (matching(search, template).length > 0) throw new Pkcs11KeyExistsError(search.token, search.label, search.kind)
  }
}
