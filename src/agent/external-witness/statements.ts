/**
 * The owner's list of external witnesses, from its feed. The actions are not built into the
 * ontology (BASE_ONTOLOGY stays version 3, so owners' own update numbering and mixed-version
 * fleets are untouched): `fleet witness add` defines them first, in an owner ontology.update, when
 * the ontology in force lacks them. An agent acts on a statement only when the action's spec in
 * force is exactly the well-known one below; an action of the same name defined otherwise (by an
 * owner's own update) is someone else's meaning, and its entries are left alone.
 *
 *   witness.external         {name, url, vkey}   add a witness, or replace the one of that name
 *   witness.external_remove  {name, reason}      stop submitting to it, and stop counting it
 *   alert.external_witness   (agents)            a witness's answer that shows a split view
 *
 * Do NOT change these specs: agents compare them byte for byte (canonical CBOR of the stated form).
 */
import type { Field } from '../../codec/index.js'
import {
  definesAction,
  missingActions,
  parseWitnessKey,
  type ActionSpec,
  type Entry,
  type Ontology,
  type WitnessKey
} from '../../ledger/index.js'
import { EXTERNAL_WITNESS_LIMITS } from './limits.js'

/** A note key name as the spec allows it: no whitespace, no '+', no control character. */
const WITNESS_NAME: Field = { kind: 'string', max: 256, pattern: '^[^\\s+\\u0000-\\u001f]+$' }
const REASON: Field = { kind: 'string', max: 256 }

export const EXTERNAL_WITNESS_ACTIONS: Readonly<Record<string, ActionSpec>> = {
  'witness.external': {
    roles: ['owner'],
    body: {
      name: WITNESS_NAME,
      // The submission prefix: add-checkpoint is POSTed to <url>/add-checkpoint.
      url: { kind: 'string', max: EXTERNAL_WITNESS_LIMITS.maxUrlLength, pattern: '^https?://[^\\s@]+$' },
      // c2sp.org/signed-note verifier key, type 0x04 (Ed25519 cosignature/v1).
      vkey: { kind: 'string', max: 512 }
    }
  },
  'witness.external_remove': { roles: ['owner'], body: { name: WITNESS_NAME, reason: REASON } },
  // status: the witness's HTTP status (409 or 422); witnessSize: a 409's size; response: its body, cut.
  'alert.external_witness': {
    roles: ['agent'],
    body: {
      witness: WITNESS_NAME,
      url: { kind: 'string', max: EXTERNAL_WITNESS_LIMITS.maxUrlLength },
      status: { kind: 'uint', max: 999 },
      checkpointSize: { kind: 'uint' },
      oldSize: { kind: 'uint' },
      witnessSize: { kind: 'uint', optional: true },
      detail: { kind: 'string', max: 512 },
      response: { kind: 'bytes', max: EXTERNAL_WITNESS_LIMITS.maxEvidenceBytes }
    }
  }
}

/** Whether `ontology` defines `action` exactly as the well-known spec (not merely an action of that name). */
export function definesWellKnown(ontology: Ontology, action: string): boolean {
  const spec = Object.hasOwn(EXTERNAL_WITNESS_ACTIONS, action) ? EXTERNAL_WITNESS_ACTIONS[action] : undefined
  return spec !== undefined && definesAction(ontology, action, spec)
}

/** The well-known actions `ontology` lacks (what an owner's ontology.update must add); throws when one is defined otherwise. */
export function missingWitnessActions(ontology: Ontology): Record<string, ActionSpec> {
  return missingActions(ontology, EXTERNAL_WITNESS_ACTIONS)
}

/** An external witness the owner listed. */
export interface ExternalWitness {
  readonly name: string
  /** The submission prefix. */
  readonly url: string
  readonly key: WitnessKey
  readonly vkey: string
  /** The time of the owner's statement (ms). */
  readonly addedAt: number
}

/** The external witnesses in force, as the owner's statements so far say. */
export class ExternalWitnessList {
  private readonly witnesses = new Map<string, ExternalWitness>()

  /**
   * Applies a verified entry of the owner's feed, in feed order, with the ontology in force at it.
   * Returns what changed; undefined for other actions, for a statement whose action is not the
   * well-known one, and for one that does not hold together (its vkey's name is not its name, or
   * the key is not an Ed25519 cosignature key).
   */
  apply(entry: Entry, ontology: Ontology): { name: string; change: 'added' | 'removed' } | undefined {
    if (!definesWellKnown(ontology, entry.type)) return undefined
    if (entry.type === 'witness.external') {
      const b = entry.body as { name: string; url: string; vkey: string }
      let key: WitnessKey
      try {
        key = parseWitnessKey(b.vkey)
        new URL(b.url)
      } catch {
        return undefined
      }
      if (key.name !== b.name) return undefined
      if (!this.witnesses.has(b.name) && this.witnesses.size >= EXTERNAL_WITNESS_LIMITS.maxWitnesses) return undefined
      this.witnesses.set(b.name, {
        name: b.name,
        url: b.url.replace(/\/+$/, ''),
        key,
        vkey: b.vkey,
        addedAt: entry.time
      })
      return { name: b.name, change: 'added' }
    }
    if (entry.type === 'witness.external_remove') {
      const name = String(entry.body.name)
      return this.witnesses.delete(name) ? { name, change: 'removed' } : undefined
    }
    return undefined
  }

  list(): ExternalWitness[] {
    return [...this.witnesses.values()]
  }
}
