/**
 * An action made ready for its actor's signature: checked as an entry of the feed it is meant for
 * would be (shape, ontology, role), then the statement the actor signs (src/ledger/actor-proof.ts)
 * at the time given. The agent prepares what a control socket caller asks for (`prepare`,
 * `approve`); the CLI prepares the same way when it appends to a state directory itself.
 */
import {
  actorStatement,
  checkEntryAgainstOntology,
  checkEntryShape,
  type Entry,
  type Ontology,
  type Role
} from '../../ledger/index.js'

/** The feed an action is meant for: its fleet, the device it happens on, the ontology it obeys. */
export interface ActionPlace {
  fleet: Uint8Array
  /** The feed's id, which is the device the action happens on. */
  device: string
  ontology: Ontology
}

/** What is asked: an action of the ontology, in its actor's name, with its body (bytes as bytes). */
export interface AskedAction {
  type: string
  actor: { id: string; role: Role }
  body: Record<string, unknown>
}

export interface PreparedAction extends AskedAction {
  /** When the actor signs, ms since the Unix epoch. */
  at: number
  /** The bytes the actor's key signs. */
  statement: Uint8Array
}

/**
 * Checks `action` as an entry of `place` (MalformedEntryError, UnknownActionError,
 * ActorRoleError, BodySchemaError, FeedRoleError: the ledger's own refusals, before anyone is
 * asked to sign) and returns it with the statement its actor signs at `at`.
 */
export function prepareAction(place: ActionPlace, action: AskedAction, at: number): PreparedAction {
  const draft: Entry = {
    v: 1,
    fleet: place.fleet,
    feed: place.device,
    seq: 0,
    prev: new Uint8Array(32),
    time: at,
    type: action.type,
    actor: { id: action.actor.id, role: action.actor.role },
    device: place.device,
    attest: null,
    body: action.body
  }
  checkEntryShape(draft)
  checkEntryAgainstOntology(draft, place.ontology)
  const statement = actorStatement(
    {
      fleet: place.fleet,
      device: place.device,
      type: action.type,
      actor: action.actor,
      attest: null,
      body: action.body
    },
    at
  )
  return { type: action.type, actor: action.actor, body: action.body, at, statement }
}
