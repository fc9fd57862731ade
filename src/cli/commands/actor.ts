import type { Command } from 'commander'
import path from 'node:path'
import { DEFAULT_ACTOR_KEY_LABEL, defaultActorKeyLabel, feedIdentityOf, type FeedIdentity } from '../../agent/index.js'
import { UsageError, cryptoRandom, toHex } from '../../common/index.js'
import { ownerFeedId, type AppendInput } from '../../ledger/index.js'
import type { AttestationPolicy } from '../../webauthn/index.js'
import { actorRoster, actorRow, actorText, currentHolder, type ActorKind, type RosterActor } from '../actor-roster.js'
import { actorTokenKey } from '../actor-token.js'
import { checkAaguid, parsePort, startWebAuthnEnrolment, webAuthnEnrolBody } from '../actor-webauthn.js'
import { parseSeconds } from '../confirm.js'
import {
  ActorAlreadyEnrolledError,
  ActorAlreadyRevokedError,
  ActorKeyInUseError,
  ActorNotEnrolledError
} from '../errors.js'
import { storedOwnerEntries } from '../ledger-store.js'
import { readRoots } from '../options.js'
import { makeOutput } from '../output.js'
import { modulePatterns, pinReader } from '../owner-access.js'
import { notReached, publishOwnerStatement, statementOptions, type StatementOptions } from '../owner-statement.js'

/** An actor id as actor.enrol takes it (the ontology's pattern). */
const ACTOR_ID = /^[A-Za-z0-9][A-Za-z0-9._@+/-]{0,127}$/
const ACTOR_ROLES = ['operator', 'auditor'] as const
const KEY_LABEL_MAX_BYTES = 64
const DEFAULT_ENROL_WAIT_SECONDS = 300

interface EnrolOptions extends StatementOptions {
  actor: string
  role: string
  yes?: boolean
  pkcs11?: string
  token?: string
  keyLabel?: string
  actorPinFd?: string
  actorPinCredential?: string
  webauthn?: boolean
  port?: string
  allowNone?: boolean
  aaguid?: string[]
  attestationRoot?: string[]
  enrolTimeout?: string
}

/** A key offered for an actor: the body of actor.enrol, and what the result says about it. */
interface OfferedKey {
  kind: ActorKind
  body: Record<string, unknown>
  details: Record<string, unknown>
  close: () => Promise<void>
}

/**
 * fleet actor enrol --state OWNERDIR --actor ID --role operator|auditor
 *     (--pkcs11 MODULE --token LABEL [--key-label L] [--actor-pin-fd N | --actor-pin-credential NAME]
 *      | --webauthn [--port N] [--allow-none] [--aaguid UUID]… [--enrol-timeout S]) [--attestation-root PEM]…
 *     [--yes] [--tcti T] [--pin-fd N | --pin-credential NAME] [--peer MA]… [--timeout S] [--json]
 * fleet actor revoke --state OWNERDIR --actor ID --reason TEXT [owner options as above]
 * fleet actor list --state DIR [--json]
 */
export function registerActorCommands(program: Command): void {
  const actor = program
    .command('actor')
    .description("the fleet's actors: people whose actions carry their own hardware key's signature")

  statementOptions(
    actor
      .command('enrol')
      .description(
        "bind an actor's id and role to a key in their own hardware (a PKCS#11 token, or a FIDO2 security key): " +
          "an owner-signed actor.enrol in the owner's feed, handed to the agents found"
      )
      .requiredOption('--state <dir>', 'owner state directory')
      .requiredOption('--actor <id>', 'the actor (letters, digits and . _ @ + / -; at most 128)')
      .requiredOption('--role <role>', `the actor's role (${ACTOR_ROLES.join(', ')})`)
      .option('--pkcs11 <module>', "the actor's key on a PKCS#11 token: the absolute path of its module")
      .option('--token <label>', "with --pkcs11: the label of the actor's token")
      .option(
        '--key-label <label>',
        `with --pkcs11: the key's label on the token (default ${DEFAULT_ACTOR_KEY_LABEL}ID)`
      )
      .option('--actor-pin-fd <n>', "with --pkcs11: read the actor's token PIN from this file descriptor")
      .option('--actor-pin-credential <name>', "with --pkcs11: read the actor's token PIN from this systemd credential")
      .option('--webauthn', "the actor's key is a FIDO2 security key, enrolled on a page this command serves")
      .option('--port <n>', "with --webauthn: the page's port on 127.0.0.1 (default: a free one)")
      .option('--allow-none', 'with --webauthn: accept a key whose model is unproven (attestation none or self)')
      .option('--aaguid <uuid...>', 'with --webauthn: the authenticator models allowed (AAGUIDs)')
      .option(
        '--attestation-root <pem...>',
        "vendors' attestation roots the key's attestation must chain to (PEM files; every certificate is a trust anchor)"
      )
      .option('--enrol-timeout <seconds>', `with --webauthn: how long to wait (default ${DEFAULT_ENROL_WAIT_SECONDS})`)
      .option('--yes', 'replace the key of an actor enrolled already (rotation)')
  )
    .addHelpText(
      'after',
      `
Examples:
  fleet actor enrol --state ~/.fleet-owner --actor dr.smith --role operator \\
      --pkcs11 /usr/lib/x86_64-linux-gnu/libykcs11.so --token 'YubiKey PIV #12345678' \\
      --attestation-root piv-attestation-ca.pem
  fleet actor enrol --state ~/.fleet-owner --actor auditor.jones --role auditor --webauthn \\
      --attestation-root yubico-root.pem --aaguid ee882879-721c-4913-9775-3dfcce97072a
With --pkcs11 the P-256 key is generated on the actor's token (or, under a label taken already, the
key there is used) and checked to be made there and never extractable. Its PIV attestation (a
certificate over exactly that key on the token, as a YubiKey shows it) is recorded when found;
with --attestation-root the key is refused unless that certificate chains to a root named. The
actor's PIN is asked on the terminal, or read from --actor-pin-fd or --actor-pin-credential; a
token-held owner's PIN comes from --pin-fd or --pin-credential as for every owner command. The
module must lie where an owner's may (FLEET_PKCS11_PROVIDERS). With --webauthn the page's address
is printed on stderr: open it on this machine. A key whose model is unproven is refused unless
--allow-none; a chain that reaches no --attestation-root is unproven.
Exit codes: 0 enrolled, 1 refused (a wrong PIN, a key that is not hardware-bound, an attestation
missing, unreadable or reaching no named root, a model the policy refuses, no key in time), 2 bad
usage (an actor enrolled already without --yes, no PIN source and no terminal, an unreadable
--attestation-root).`
    )
    .action(async (options: EnrolOptions) => {
      const kind = enrolKind(options)
      parseSeconds(options.timeout, '--timeout')
      const identity = await ownerIdentity(options.state)
      const before = actorRoster(await storedOwnerEntries(options.state, identity))
      checkEnrolable(before, options)
      const offered = kind === 'pkcs11' ? await tokenKey(options) : await securityKey(options, before)
      try {
        checkKeyFree(before, options.actor, offered)
        const reached = await publishOwnerStatement(options, (entries, owner): AppendInput => {
          // Checked again on the feed as it is now: it is what the statement is appended to.
          const roster = actorRoster(entries)
          checkEnrolable(roster, options)
          checkKeyFree(roster, options.actor, offered)
          return { type: 'actor.enrol', actor: owner, attest: null, body: offered.body }
        })
        makeOutput(options.json === true).result(
          { actorId: options.actor, role: options.role, kind, ...offered.details, reached },
          `actor ${options.actor} enrolled (${options.role}, ${kind}): ${String(offered.body.hardware)}; ` +
            `handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
        )
      } finally {
        await offered.close()
      }
    })

  statementOptions(
    actor
      .command('revoke')
      .description(
        "end an actor's enrolment: an owner-signed actor.revoke in the owner's feed, handed to the agents found; " +
          'their actions are refused from then on'
      )
      .requiredOption('--state <dir>', 'owner state directory')
      .requiredOption('--actor <id>', 'the actor')
      .requiredOption('--reason <text>', 'why (kept in the ledger)')
  )
    .addHelpText(
      'after',
      `
Example:
  fleet actor revoke --state ~/.fleet-owner --actor dr.smith --reason "card lost"
Exit codes: 0 revoked, 1 refused (an actor never enrolled, or revoked already), 2 bad usage.`
    )
    .action(async (options: StatementOptions & { actor: string; reason: string }) => {
      checkActorId(options.actor)
      if (options.reason.length === 0 || options.reason.length > 256)
        throw new UsageError('--reason must be 1..256 characters')
      const reached = await publishOwnerStatement(options, (entries, owner): AppendInput => {
        const found = actorRoster(entries).find((candidate) => candidate.actorId === options.actor)
        if (found === undefined) throw new ActorNotEnrolledError(options.actor)
        if (found.revoked !== undefined)
          throw new ActorAlreadyRevokedError(options.actor, found.revoked.reason, found.revoked.at)
        return {
          type: 'actor.revoke',
          actor: owner,
          attest: null,
          body: { actorId: options.actor, reason: options.reason }
        }
      })
      makeOutput(options.json === true).result(
        { actorId: options.actor, revoked: true, reason: options.reason, reached },
        `actor ${options.actor} revoked; handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
      )
    })

  actor
    .command('list')
    .description(
      "the actors the owner's feed held in a state directory enrols (an owner's, or a device's replica of it)"
    )
    .requiredOption('--state <dir>', 'owner or device state directory')
    .option('--json', 'print the list as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet actor list --state ~/.fleet-owner --json
A device lists what its replica of the owner's feed holds: what its agent has received. A running
agent holds the ledger: stop it first (exit 1 says so).
Exit codes: 0 listed, 1 the ledger could not be read (a running agent holds it), 2 bad usage.`
    )
    .action(async (options: { state: string; json?: boolean }) => {
      const identity = await feedIdentityOf(options.state)
      const entries = await storedOwnerEntries(options.state, identity)
      const actors = actorRoster(entries).map(actorRow)
      const held = `the owner's feed held in ${path.resolve(options.state)} (${entries.length} entries)`
      makeOutput(options.json === true).result(
        {
          fleetId: toHex(identity.fleetId),
          state: identity.kind,
          ownerFeed: ownerFeedId(identity.fleetId),
          ownerEntries: entries.length,
          actors
        },
        actors.length === 0
          ? `no actors enrolled in ${held}`
          : [`actors in ${held}:`, ...actors.map(actorText)].join('\n')
      )
    })
}

function enrolKind(options: EnrolOptions): ActorKind {
  checkActorId(options.actor)
  if (!(ACTOR_ROLES as readonly string[]).includes(options.role))
    throw new UsageError(`--role must be one of ${ACTOR_ROLES.join(', ')}`)
  if ((options.pkcs11 === undefined) === (options.webauthn !== true))
    throw new UsageError('give exactly one of --pkcs11 MODULE and --webauthn')
  const tokenOnly = { '--token': options.token, '--key-label': options.keyLabel }
  const pins = { '--actor-pin-fd': options.actorPinFd, '--actor-pin-credential': options.actorPinCredential }
  const pageOnly = {
    '--port': options.port,
    '--allow-none': options.allowNone,
    '--aaguid': options.aaguid,
    '--enrol-timeout': options.enrolTimeout
  }
  const misplaced = (given: Record<string, unknown>): string[] =>
    Object.entries(given)
      .filter(([, value]) => value !== undefined)
      .map(([flag]) => flag)
  const stray = options.webauthn === true ? misplaced({ ...tokenOnly, ...pins }) : misplaced(pageOnly)
  if (stray.length > 0) {
    const belongs = options.webauthn === true ? '--pkcs11' : '--webauthn'
    throw new UsageError(`${stray.join(', ')} go${stray.length === 1 ? 'es' : ''} with ${belongs}`)
  }
  return options.webauthn === true ? 'webauthn' : 'pkcs11'
}

function checkActorId(actorId: string): void {
  if (!ACTOR_ID.test(actorId))
    throw new UsageError('--actor must be 1..128 letters, digits and . _ @ + / - (starting with a letter or digit)')
}

/** The identity of an owner's state directory; a device's is a usage error. */
async function ownerIdentity(dir: string): Promise<FeedIdentity> {
  const identity = await feedIdentityOf(dir)
  if (identity.kind !== 'owner') throw new UsageError(`${dir} is a device's state: actors are enrolled by the owner`)
  return identity
}

/** An actor enrolled now (not revoked) is enrolled again only with --yes. */
function checkEnrolable(roster: readonly RosterActor[], options: EnrolOptions): void {
  const current = roster.find((candidate) => candidate.actorId === options.actor)
  if (current !== undefined && current.revoked === undefined && options.yes !== true)
    throw new ActorAlreadyEnrolledError(options.actor, current.kind, current.enrolledAt)
}

/** One key, one actor: a key another actor holds now is refused. */
function checkKeyFree(roster: readonly RosterActor[], actorId: string, offered: OfferedKey): void {
  const holder = currentHolder(roster, {
    kind: offered.kind,
    publicKey: offered.body.publicKey as Uint8Array,
    credentialId: offered.body.credentialId as Uint8Array | undefined
  })
  if (holder !== undefined && holder.actorId !== actorId) throw new ActorKeyInUseError(actorId, holder.actorId)
}

async function tokenKey(options: EnrolOptions): Promise<OfferedKey> {
  if (!path.isAbsolute(options.pkcs11!)) throw new UsageError('--pkcs11 must be an absolute path')
  if (options.token === undefined) throw new UsageError('--pkcs11 needs --token LABEL')
  if (options.token.length === 0 || Buffer.byteLength(options.token) > 32)
    throw new UsageError('--token must be a token label of 1 to 32 bytes')
  const keyLabel = options.keyLabel ?? defaultActorKeyLabel(options.actor)
  const labelBytes = Buffer.byteLength(keyLabel)
  if (labelBytes === 0 || labelBytes > KEY_LABEL_MAX_BYTES || /\p{Cc}/u.test(keyLabel))
    throw new UsageError(`--key-label must be 1 to ${KEY_LABEL_MAX_BYTES} bytes of text (give one for a long actor id)`)
  const roots = options.attestationRoot === undefined ? undefined : await readRoots(options.attestationRoot)
  const pin = pinReader(
    { pinFd: options.actorPinFd, pinCredential: options.actorPinCredential },
    (token) => `PIN of token "${token.label}" (serial ${token.serial}) of actor ${options.actor}: `,
    { fd: '--actor-pin-fd', credential: '--actor-pin-credential' }
  )
  const key = await actorTokenKey({
    module: options.pkcs11!,
    modulePatterns: modulePatterns(),
    token: options.token,
    keyLabel,
    pin,
    roots
  })
  const { attestation } = key
  return {
    kind: 'pkcs11',
    body: {
      actorId: options.actor,
      role: options.role,
      kind: 'pkcs11',
      publicKey: key.publicKey,
      hardware: key.hardware,
      ...(key.evidence === undefined ? {} : { evidence: key.evidence })
    },
    details: {
      hardware: key.hardware,
      publicKey: toHex(key.publicKey),
      token: key.token,
      keyLabel: key.keyLabel,
      madeNow: key.made,
      attestation:
        attestation === undefined
          ? null
          : {
              verified: attestation.root !== undefined,
              label: attestation.label,
              issuer: attestation.issuer,
              root: attestation.root ?? null,
              certificates: attestation.chain.length,
              yubico: attestation.yubico ?? null
            }
    },
    close: async () => {}
  }
}

async function securityKey(options: EnrolOptions, roster: readonly RosterActor[]): Promise<OfferedKey> {
  const allow: AttestationPolicy = {
    allowNone: options.allowNone === true,
    aaguids: options.aaguid?.map(checkAaguid),
    roots:
      options.attestationRoot === undefined
        ? undefined
        : (await readRoots(options.attestationRoot)).map((root) => root.toString())
  }
  const current = roster.find((candidate) => candidate.actorId === options.actor && candidate.revoked === undefined)
  const enrolment = await startWebAuthnEnrolment({
    actorId: options.actor,
    port: parsePort(options.port),
    allow,
    challenge: cryptoRandom.bytes(32),
    excludeCredentialIds: current?.credentialId === undefined ? [] : [current.credentialId],
    waitSeconds:
      options.enrolTimeout === undefined
        ? DEFAULT_ENROL_WAIT_SECONDS
        : parseSeconds(options.enrolTimeout, '--enrol-timeout')
  })
  try {
    // On stderr even with --json: stdout holds the one result.
    process.stderr.write(
      `open ${enrolment.url} in a browser on this machine to enrol ${options.actor}'s security key\n`
    )
    const enrolled = await enrolment.credential
    const body = webAuthnEnrolBody(options.actor, options.role, enrolled)
    const { hardware } = body
    return {
      kind: 'webauthn',
      body,
      details: {
        hardware,
        credentialId: toHex(enrolled.credentialId),
        aaguid: enrolled.aaguid,
        fmt: enrolled.fmt,
        trusted: enrolled.attestation.trusted
      },
      close: enrolment.close
    }
  } catch (err) {
    await enrolment.close()
    throw err
  }
}

export type { ActorRow } from '../actor-roster.js'
