/**
 * Actions whose meaning this code knows but that are not built into the ontology (BASE_ONTOLOGY
 * stays at its version, so owners' own update numbering and mixed-version fleets are untouched).
 * The owner's CLI defines such an action with an owner ontology.update the first time it needs
 * it; agents act on an entry of it only where the ontology in force defines it exactly as
 * stated here, byte for byte (the canonical CBOR of its stated form). An action of the same name
 * defined otherwise is someone else's meaning: its entries are kept, verified, and left alone.
 */
import { encodeCanonical } from '../codec/index.js'
import { FleetError } from '../common/index.js'
import type { ActionSpec, Ontology } from './ontology.js'
import { formatOntologyActions } from './ontology-update.js'

/** Thrown when the fleet's ontology defines a well-known action otherwise. Exit code 1. */
export class OntologyConflictError extends FleetError {
  readonly action: string
  constructor(action: string) {
    super(`the fleet's ontology defines ${action} otherwise: agents would not act on it`, {
      code: 'ERR_ONTOLOGY_CONFLICT'
    })
    this.action = action
  }
}

const stated = (name: string, spec: ActionSpec): string =>
  Buffer.from(encodeCanonical(formatOntologyActions({ [name]: spec }))).toString('hex')

/** Whether `ontology` defines `action` exactly as `spec` (not merely an action of that name). */
export function definesAction(ontology: Ontology, action: string, spec: ActionSpec): boolean {
  if (!Object.hasOwn(ontology.actions, action)) return false
  try {
    return stated(action, ontology.actions[action]!) === stated(action, spec)
  } catch {
    return false
  }
}

/**
 * The actions of `specs` that `ontology` lacks (what an owner's ontology.update must add);
 * OntologyConflictError when one is defined otherwise.
 */
export function missingActions(
  ontology: Ontology,
  specs: Readonly<Record<string, ActionSpec>>
): Record<string, ActionSpec> {
  const missing: Record<string, ActionSpec> = {}
  for (const [name, spec] of Object.entries(specs)) {
    if (!Object.hasOwn(ontology.actions, name)) missing[name] = spec
    else if (!definesAction(ontology, name, spec)) throw new OntologyConflictError(name)
  }
  return missing
}
