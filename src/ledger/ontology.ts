import { checkRecord, SchemaError, type Field, type Schema } from '../codec/index.js'
import { ActorRoleError, BodySchemaError, FeedRoleError, UnknownActionError } from './errors.js'
import { ownerFeedId } from './owner-feed.js'
import type { Entry } from './entry.js'
import { ONTOLOGY_LIMITS } from './limits.js'

export const ROLES = ['owner', 'agent', 'operator', 'auditor', 'service'] as const
export type Role = (typeof ROLES)[number]

/**
 * An action: the roles that may perform it, and its body as a record schema (the codec's schema
 * language: unknown fields in a body are always refused).
 */
export interface ActionSpec {
  readonly roles: readonly Role[]
  readonly body: Schema
}

/** A versioned table of actions. Updates only add actions (existing ones never change meaning). */
export interface Ontology {
  readonly version: number
  readonly actions: Readonly<Record<string, ActionSpec>>
}

const DEVICE_ID: Field = { kind: 'string', max: 52, pattern: '^[a-z2-7]{52}$' }
const HASH: Field = { kind: 'bytes', size: 32, max: 32 }
const HEX_ID: Field = { kind: 'string', max: 64, pattern: '^[0-9a-f]{64}$' }

/** An actor's id: what entries name in `actor.id` (a person, or a service's account). */
const ACTOR_ID: Field = { kind: 'string', max: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._@+/-]{0,127}$' }

/**
 * The built-in actions. Version 3 (do NOT change a version once released: a new one adds to it):
 *   version 1: the actions the fleet agent itself records, and the operator actions it audits;
 *   version 2: device.clear_quarantine names the equivocation evidence it clears (`evidence`; a
 *     version-1 statement naming only an `epoch` still verifies but clears nothing), the owner's
 *     device.new_epoch authorises a second history of a device's feed from a fork point, and an
 *     agent's alert.revocation carries an owner revocation (with its proof) between branches of
 *     a forked owner's feed, and device.approve_release may name the approval epoch it is valid up
 *     to (`epoch`);
 *   version 3: the owner's actor.enrol binds a person's id and role to a key in their own hardware
 *     (a PKCS#11 token or a FIDO2 authenticator), whose signatures their actions then carry (entry
 *     version 2, actor-proof.ts); actor.revoke ends it; an agent's alert.cloned_authenticator
 *     records a WebAuthn signature counter that did not grow; the owner's workload.allow names the
 *     programs (uid, executable digest) a local service may act through, in the new `service`
 *     role, whose entries carry the agent's measurement of the calling program (a `workload` proof);
 *     an agent's workload.start and workload.stop record the workloads its gate admitted and stopped.
 * Owner updates (ontology.update) number on from here: the first one is version 4.
 */
export const BASE_ONTOLOGY: Ontology = {
  version: 3,
  actions: {
    'device.enrol': {
      roles: ['owner'],
      body: {
        deviceId: DEVICE_ID,
        ekPubHash: HASH,
        akPub: { kind: 'bytes', max: 1024 },
        dskPub: { kind: 'bytes', max: 1024 },
        pqPub: { kind: 'bytes', size: 1952, max: 1952 },
        peerId: { kind: 'string', max: 128 },
        role: { kind: 'string', max: 16, oneOf: ['workstation', 'server', 'hub'] },
        policyId: HEX_ID
      }
    },
    // keep: how many of the device's entries stay in the fleet's record (the revocation's cut);
    // later ones are refused. Without it, each agent keeps what it held when it learnt.
    'device.revoke': {
      roles: ['owner'],
      body: { deviceId: DEVICE_ID, reason: { kind: 'string', max: 256 }, keep: { kind: 'uint', optional: true } }
    },
    // evidence: the evidenceId (equivocation.ts) of the equivocation cleared; only that evidence is
    // cleared, a new fork quarantines again. epoch: version 1's form, which clears nothing now.
    'device.clear_quarantine': {
      roles: ['owner'],
      body: {
        deviceId: DEVICE_ID,
        epoch: { kind: 'uint', optional: true },
        evidence: { kind: 'bytes', size: 32, max: 32, optional: true },
        reason: { kind: 'string', max: 256 }
      }
    },
    // A second history of the device's feed in `epoch` (2 or more), sharing the old history's first
    // forkSize entries, whose tree root is forkRoot (e.g. after re-provisioning from a backup).
    'device.new_epoch': {
      roles: ['owner'],
      body: {
        deviceId: DEVICE_ID,
        epoch: { kind: 'uint', max: 0xffffffff },
        forkSize: { kind: 'uint' },
        forkRoot: HASH,
        reason: { kind: 'string', max: 256 }
      }
    },
    'device.approve_release': {
      roles: ['owner'],
      // epoch: the approval-epoch it is valid up to (8 bytes, big-endian), absent before approvals had one.
      body: {
        deviceId: DEVICE_ID,
        approvedPolicy: HASH,
        agentMeasurement: HASH,
        pcrs: { kind: 'bytes', max: 24 },
        policyId: HEX_ID,
        epoch: { kind: 'bytes', size: 8, max: 8, optional: true }
      }
    },
    'policy.set': { roles: ['owner'], body: { policyId: HEX_ID, policy: { kind: 'bytes', max: 32 * 1024 } } },
    'attest.verdict': {
      roles: ['agent'],
      body: {
        subject: DEVICE_ID,
        trusted: { kind: 'bool' },
        policyId: HEX_ID,
        quoteHash: HASH,
        reasons: { kind: 'list', maxItems: 32, item: { kind: 'string', max: 512 } }
      }
    },
    'alert.clone_suspected': {
      roles: ['agent'],
      body: { peerId: { kind: 'string', max: 128 }, claimedDeviceId: DEVICE_ID, presentedAkHash: HASH }
    },
    'alert.equivocation': {
      roles: ['agent'],
      body: { feed: DEVICE_ID, epoch: { kind: 'uint' }, evidence: { kind: 'bytes', max: 32 * 1024 } }
    },
    // An owner's device.revoke seen on one branch of the owner's forked feed, for agents holding
    // another: the UTF-8 JSON of its proof bundle (proof.ts) under an owner-signed checkpoint.
    'alert.revocation': { roles: ['agent'], body: { deviceId: DEVICE_ID, proof: { kind: 'bytes', max: 24 * 1024 } } },
    'alert.tamper': {
      roles: ['agent'],
      body: { subject: DEVICE_ID, pcr: { kind: 'uint', max: 23 }, detail: { kind: 'string', max: 512 } }
    },
    'key.rotate': {
      roles: ['agent', 'owner'],
      body: {
        key: { kind: 'string', max: 8, oneOf: ['ak', 'dsk', 'mldsa', 'peer'] },
        newPublic: { kind: 'bytes', max: 2048 }
      }
    },
    'operator.data_access': {
      roles: ['operator'],
      body: {
        resource: { kind: 'string', max: 256 },
        purpose: { kind: 'string', max: 256 },
        records: { kind: 'uint', optional: true }
      }
    },
    'operator.model_inference': {
      roles: ['operator'],
      body: { model: { kind: 'string', max: 128 }, inputHash: HASH, outputHash: HASH }
    },
    // kind: the hardware. pkcs11: publicKey is the token key's SEC1 P-256 point (65 bytes); evidence,
    // when the token gives one, its attestation certificate chain (DER, concatenated). webauthn:
    // publicKey is the credential's COSE key, credentialId its id, rpId the relying party its
    // assertions name; evidence the enrolment's attestation object. `hardware`: what it is, in words.
    'actor.enrol': {
      roles: ['owner'],
      body: {
        actorId: ACTOR_ID,
        role: { kind: 'string', max: 16, oneOf: ['operator', 'auditor'] },
        kind: { kind: 'string', max: 16, oneOf: ['pkcs11', 'webauthn'] },
        publicKey: { kind: 'bytes', max: 1024 },
        credentialId: { kind: 'bytes', max: 1024, optional: true },
        rpId: { kind: 'string', max: 253, optional: true },
        evidence: { kind: 'bytes', max: 16 * 1024, optional: true },
        hardware: { kind: 'string', max: 256 }
      }
    },
    'actor.revoke': { roles: ['owner'], body: { actorId: ACTOR_ID, reason: { kind: 'string', max: 256 } } },
    // A local service's program, as the agent measures its callers (uid, SHA-256 of the executable,
    // and for an interpreter the script it was started with): entries by `service` in the service
    // role are accepted only from a program the owner allowed; `exe`, when given, is the path it
    // must run from (a copy elsewhere is refused). workload.revoke ends an allowance.
    'workload.allow': {
      roles: ['owner'],
      body: {
        service: ACTOR_ID,
        uid: { kind: 'uint', max: 4_294_967_295 },
        exeDigest: HASH,
        exe: { kind: 'string', max: 4096, optional: true },
        scriptDigest: { kind: 'bytes', size: 32, max: 32, optional: true },
        description: { kind: 'string', max: 256 }
      }
    },
    'workload.revoke': {
      roles: ['owner'],
      body: { service: ACTOR_ID, exeDigest: HASH, reason: { kind: 'string', max: 256 } }
    },
    // A workload the agent's gate admitted (fleet exec): the program (its path and SHA-256 as
    // `fleet exec` read them), its pid, the secrets released to it by name (never their values),
    // the quorum of peers' verdicts it asked for; and its stop, with why (it exited, or the
    // device lost its standing: a PCR changed, revocation, quarantine, the quorum fell short).
    'workload.start': {
      roles: ['agent'],
      body: {
        exe: { kind: 'string', max: 4096 },
        exeDigest: HASH,
        pid: { kind: 'uint' },
        secrets: { kind: 'list', maxItems: 16, item: { kind: 'string', max: 64 } },
        quorum: { kind: 'uint' }
      }
    },
    'workload.stop': {
      roles: ['agent'],
      body: {
        exe: { kind: 'string', max: 4096 },
        exeDigest: HASH,
        pid: { kind: 'uint' },
        reason: { kind: 'string', max: 512 },
        exitCode: { kind: 'uint', optional: true },
        signal: { kind: 'string', max: 16, optional: true }
      }
    },
    'service.model_inference': {
      roles: ['service'],
      body: { model: { kind: 'string', max: 128 }, inputHash: HASH, outputHash: HASH }
    },
    // A WebAuthn credential's signature counter that did not grow: the entry at feed/seq, and the
    // signature it contradicts (the same feed, earlier, or another feed at a time out of order).
    'alert.cloned_authenticator': {
      roles: ['agent'],
      body: {
        actorId: ACTOR_ID,
        credentialId: { kind: 'string', max: 2048, pattern: '^[0-9a-f]+$' },
        feed: DEVICE_ID,
        seq: { kind: 'uint' },
        counter: { kind: 'uint' },
        againstFeed: DEVICE_ID,
        againstSeq: { kind: 'uint' },
        againstCounter: { kind: 'uint' }
      }
    },
    'ontology.update': {
      roles: ['owner'],
      body: { version: { kind: 'uint' }, actions: { kind: 'bytes', max: ONTOLOGY_LIMITS.maxUpdateBytes } }
    }
  }
}

/**
 * The ontology rule, checked on append, on accept from a peer and by offline verification: the
 * action exists in this ontology version, the actor's role may perform it, an owner-role entry
 * is in the owner's feed of the entry's fleet (FeedRoleError otherwise: a device cannot speak for
 * the owner), and the body matches its schema exactly.
 */
export function checkEntryAgainstOntology(entry: Entry, ontology: Ontology): void {
  const spec = Object.hasOwn(ontology.actions, entry.type) ? ontology.actions[entry.type] : undefined
  if (spec === undefined) throw new UnknownActionError(entry.type, ontology.version)
  if (!(spec.roles as readonly string[]).includes(entry.actor.role))
    throw new ActorRoleError(entry.type, entry.actor.role, spec.roles)
  if (entry.actor.role === 'owner') {
    const ownerFeed = ownerFeedId(entry.fleet)
    if (entry.feed !== ownerFeed) throw new FeedRoleError(entry.type, entry.actor.role, entry.feed, ownerFeed)
  }
  try {
    checkRecord(entry.body, spec.body, 'body')
  } catch (err) {
    if (err instanceof SchemaError) throw new BodySchemaError(entry.type, err.path, err.reason, err)
    throw err
  }
}

/**
 * Applies a verified owner ontology update: the next version, adding actions. An update that
 * skips a version or redefines an existing action is refused.
 */
export function applyVerifiedOntologyUpdate(
  ontology: Ontology,
  version: number,
  added: Record<string, ActionSpec>
): Ontology {
  if (version !== ontology.version + 1)
    throw new BodySchemaError('ontology.update', 'body.version', `must be ${ontology.version + 1}`)
  for (const [name, spec] of Object.entries(added)) {
    if (Object.hasOwn(ontology.actions, name))
      throw new BodySchemaError('ontology.update', `actions.${name}`, 'already exists; actions never change meaning')
    if (!/^[a-z]+(\.[a-z_]+)+$/.test(name))
      throw new BodySchemaError('ontology.update', `actions.${name}`, 'is not an action name')
    if (spec.roles.length === 0 || spec.roles.some((role) => !(ROLES as readonly string[]).includes(role)))
      throw new BodySchemaError('ontology.update', `actions.${name}.roles`, 'unknown role')
  }
  return { version, actions: { ...ontology.actions, ...added } }
}

export { ONTOLOGY_LIMITS }
