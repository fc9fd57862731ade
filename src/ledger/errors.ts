import { FleetError, MalformedInputError } from '../common/errors.js'

/** Thrown when bytes are not the strict, canonical CBOR this ledger writes. Exit code 2. */
export class MalformedCborError extends MalformedInputError {
  readonly offset: number
  constructor (offset: number, reason: string) {
    super(`CBOR: ${reason} (at byte ${offset})`, { code: 'ERR_MALFORMED_CBOR' })
    this.offset = offset
  }
}

/** Thrown when a decoded value is not a valid entry (missing, extra or mistyped fields). Exit code 2. */
export class MalformedEntryError extends MalformedInputError {
  constructor (reason: string) {
    super(`ledger entry: ${reason}`, { code: 'ERR_MALFORMED_ENTRY' })
  }
}

/** Thrown when an entry's type is unknown to the ontology, or its version is not supported. */
export class UnknownActionError extends FleetError {
  readonly type: string
  constructor (type: string, ontologyVersion: number) {
    super(`action "${type}" is not in ontology version ${ontologyVersion}`, { code: 'ERR_UNKNOWN_ACTION' })
    this.type = type
  }
}

/** Thrown when an actor's role may not perform an action. */
export class ActorRoleError extends FleetError {
  readonly type: string
  readonly role: string
  constructor (type: string, role: string, allowed: readonly string[]) {
    super(`a ${role} may not perform "${type}" (allowed: ${allowed.join(', ')})`, { code: 'ERR_ACTOR_ROLE' })
    this.type = type
    this.role = role
  }
}

/** Thrown when an action's body does not match its schema; `path` names the offending field. */
export class BodySchemaError extends FleetError {
  readonly type: string
  readonly path: string
  constructor (type: string, path: string, reason: string) {
    super(`body of "${type}" at ${path}: ${reason}`, { code: 'ERR_BODY_SCHEMA' })
    this.type = type
    this.path = path
  }
}

/** Thrown when an inclusion or consistency proof does not verify; carries what was compared. */
export class ProofError extends FleetError {
  readonly kind: 'inclusion' | 'consistency'
  constructor (kind: 'inclusion' | 'consistency', reason: string) {
    super(`${kind} proof: ${reason}`, { code: 'ERR_PROOF' })
    this.kind = kind
  }
}
