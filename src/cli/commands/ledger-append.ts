/**
 * fleet ledger append: one typed action into this device's feed (through its running agent) or
 * into the feed of a state directory no agent runs (a device's, or the owner's), signed, when its
 * actor has hardware of their own, on it:
 *   --pkcs11 MODULE --token LABEL   the actor's PKCS#11 token signs the action statement. Through
 *                                   the agent: it prepares the statement, this command checks it
 *                                   names exactly the action asked for (no blind signature for a
 *                                   lying agent), the token signs, the agent appends with the proof.
 *   --webauthn                      the actor approves on the running agent's approval page with
 *                                   their security key; the agent appends once they have.
 */
import type { Command } from 'commander'
import { existsSync } from 'node:fs'
import path from 'node:path'
import type { EsysTpm } from '../../attest/index.js'
import {
  APPROVALS_LIMITS,
  CONTROL_SOCKET,
  DEFAULT_ACTOR_KEY_LABEL,
  defaultActorKeyLabel,
  measurementOf,
  bodyFromJson,
  checkPreparedStatement,
  controlRequest,
  deviceSigner,
  feedIdentityOf,
  openActorTokenKey,
  openOwnFeed,
  prepareAction,
  proofToText,
  readDeviceState,
  storedOntology,
  storedActors,
  unlockDevice,
  type ActorTokenKey,
  type FeedIdentity
} from '../../agent/index.js'
import { BASE_ONTOLOGY, ROLES, type Role } from '../../ledger/index.js'
import type { HybridSigner } from '../../identity/index.js'
import { FleetError, UsageError, fromBase64, systemClock, toHex } from '../../common/index.js'
import { makeOutput } from '../output.js'
import { openOwner, pinGiven, pinOptions, pinReader, type PinOptions } from '../owner-access.js'
import { openTpm } from '../tpm-session.js'

interface AppendOptions extends PinOptions {
  state: string
  type: string
  actor: string
  role: string
  body: string
  tcti?: string
  pkcs11?: string
  token?: string
  keyLabel?: string
  actorPinFd?: string
  actorPinCredential?: string
  webauthn?: boolean
  json?: boolean
}

/** The action asked for, checked. */
interface Asked {
  type: string
  actor: { id: string; role: Role }
  /** The body as given (JSON; byte fields as hex). */
  json: Record<string, unknown>
}

/** Where the action went. */
interface Appended {
  feed: string
  seq: number
  hash: string
  sealed: boolean
}

/** How long `approve` may take: the agent's approval timeout, then the seal. */
const APPROVE_WAIT_MS = APPROVALS_LIMITS.approvalTimeoutMs + 35_000

export function registerLedgerAppendCommand(ledger: Command): void {
  const append = ledger
    .command('append')
    .description(
      "append a typed action to this device's (or the owner's) feed; returns once it is durable and sealed by a signed checkpoint"
    )
    .requiredOption('--state <dir>', 'device or owner state directory')
    .requiredOption('--type <action>', `action from the ontology (${Object.keys(BASE_ONTOLOGY.actions).join(', ')})`)
    .requiredOption('--actor <id>', 'who acts (e.g. a user name)')
    .option('--role <role>', `the actor's role (${ROLES.join(', ')})`, 'operator')
    .requiredOption('--body <json>', "the action's fields as JSON (byte fields as hex)")
    .option('--tcti <tcti>', 'TPM to use (default: from the state)')
    .option('--pkcs11 <module>', "the actor signs on their PKCS#11 token: the module's absolute path")
    .option('--token <label>', "with --pkcs11: the actor's token")
    .option(
      '--key-label <label>',
      `with --pkcs11: the actor's P-256 key on it (default ${DEFAULT_ACTOR_KEY_LABEL}ID, as fleet actor enrol makes it)`
    )
    .option('--actor-pin-fd <n>', "with --pkcs11: read the actor token's PIN from this file descriptor")
    .option('--actor-pin-credential <name>', "with --pkcs11: read the actor token's PIN from this systemd credential")
    .option('--webauthn', "the actor approves with their security key on the running agent's approval page")
  pinOptions(append)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
An operator's or auditor's action carries their own hardware signature: give --pkcs11 (a token:
smartcard, HSM, PIV key) or --webauthn (a FIDO2 security key, on the agent's approval page, which
its config enables with "approvals": {"port": N}). PINs are never given as flags: the actor's is
asked on the terminal or read from --actor-pin-fd / --actor-pin-credential; --pin-fd and
--pin-credential are the owner's, for an owner's state directory held on a token.

Examples:
  fleet ledger append --state /var/lib/fleet --type operator.data_access --actor dr.smith \\
      --body '{"resource":"patient/123","purpose":"treatment"}' \\
      --pkcs11 /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so --token "Dr Smith"
  fleet ledger append --state /var/lib/fleet --type operator.data_access --actor dr.jones \\
      --body '{"resource":"patient/7","purpose":"care"}' --webauthn
Exit codes: 0 appended and sealed, 1 refused (by the ledger, the agent, the token or the actor), 2 bad usage.`
    )
    .action(async (options: AppendOptions) => {
      const asked = askedAction(options)
      const signing = signingOf(options)
      const identity = await feedIdentityOf(options.state)
      // A running agent holds the TPM and the ledger: the append goes through its control socket.
      const agentRuns = identity.kind === 'device' && existsSync(path.join(options.state, CONTROL_SOCKET))
      let appended: Appended
      try {
        if (signing === 'webauthn') {
          if (!agentRuns)
            throw new FleetError(
              `--webauthn needs the running agent of ${options.state} (its approval page): start it with fleet run`,
              { code: 'ERR_NO_AGENT' }
            )
          appended = await approveThroughAgent(options.state, asked)
        } else if (agentRuns) appended = await appendThroughAgent(options, identity, asked, signing)
        else appended = await appendOffline(options, identity, asked, signing)
      } catch (err) {
        throw withProofHint(err, asked)
      }
      const by = agentRuns ? ', by the running agent' : ''
      const signed = signing === undefined ? '' : signing === 'pkcs11' ? ', signed on the token' : ', approved'
      makeOutput(options.json === true).result(
        appended,
        `appended ${asked.type} as entry ${appended.seq} of feed ${appended.feed} (sealed${by}${signed})`
      )
    })
}

function askedAction(options: AppendOptions): Asked {
  if (!(ROLES as readonly string[]).includes(options.role))
    throw new UsageError(`--role must be one of ${ROLES.join(', ')}`)
  if (options.actor.length === 0 || options.actor.length > 128)
    throw new UsageError('--actor must be 1..128 characters')
  const json = parseBody(options.body)
  return { type: options.type, actor: { id: options.actor, role: options.role as Role }, json }
}

function parseBody(text: string): Record<string, unknown> {
  if (text.length > 64 * 1024) throw new UsageError('--body is larger than 64 KiB')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new UsageError(`--body is not JSON (${(err as Error).message})`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError('--body must be a JSON object')
  return value as Record<string, unknown>
}

/** Which hardware signs, from the options; the options of the one not chosen are refused. */
function signingOf(options: AppendOptions): 'pkcs11' | 'webauthn' | undefined {
  const tokenOptions = [
    ['--token', options.token],
    ['--key-label', options.keyLabel],
    ['--actor-pin-fd', options.actorPinFd],
    ['--actor-pin-credential', options.actorPinCredential]
  ] as const
  if (options.pkcs11 !== undefined && options.webauthn === true)
    throw new UsageError('give --pkcs11 or --webauthn, not both')
  if (options.pkcs11 === undefined) {
    const given = tokenOptions.find(([, value]) => value !== undefined)
    if (given !== undefined) throw new UsageError(`${given[0]} goes with --pkcs11`)
    return options.webauthn === true ? 'webauthn' : undefined
  }
  if (options.token === undefined) throw new UsageError('--pkcs11 needs --token LABEL')
  if (!path.isAbsolute(options.pkcs11)) throw new UsageError('--pkcs11 must be the absolute path of the module')
  return 'pkcs11'
}

/** Opens the actor's token key, asking for its PIN (terminal, --actor-pin-fd or --actor-pin-credential). */
async function openActorKey(options: AppendOptions): Promise<ActorTokenKey> {
  const pin = pinReader(
    { pinFd: options.actorPinFd, pinCredential: options.actorPinCredential },
    (token) => `PIN of token "${token.label}" (serial ${token.serial}) for actor ${options.actor}: `,
    { fd: '--actor-pin-fd', credential: '--actor-pin-credential' }
  )
  return await openActorTokenKey({
    module: options.pkcs11!,
    token: options.token!,
    keyLabel: options.keyLabel ?? defaultActorKeyLabel(options.actor),
    pin
  })
}

/**
 * Through the running agent. With a token: the token is opened first (its PIN asked), then the
 * agent prepares the statement, which is checked before the token signs it.
 */
async function appendThroughAgent(
  options: AppendOptions,
  identity: FeedIdentity,
  asked: Asked,
  signing: 'pkcs11' | undefined
): Promise<Appended> {
  const request = { type: asked.type, actor: asked.actor, body: asked.json }
  let proof: string | undefined
  if (signing === 'pkcs11') {
    const key = await openActorKey(options)
    try {
      const prepared = await controlRequest(options.state, { cmd: 'prepare', ...request })
      if (typeof prepared.statement !== 'string' || prepared.statement.length > 2 * 1024 * 1024)
        throw new FleetError('the agent prepared no statement', { code: 'ERR_CONTROL' })
      const statement = fromBase64(prepared.statement)
      const expected = { fleet: identity.fleetId, device: identity.feedId, ...request }
      const { at } = checkPreparedStatement(statement, expected, systemClock.now())
      proof = proofToText(await key.prove(statement, at))
    } finally {
      await key.close()
    }
  }
  const answer = await controlRequest(options.state, { cmd: 'append', ...request, proof })
  return answerOf(answer)
}

/** The actor approves on the agent's page; the agent appends once they have. */
async function approveThroughAgent(dir: string, asked: Asked): Promise<Appended> {
  const { status } = await controlRequest(dir, { cmd: 'status' }, 10_000)
  const page = (status as { approvalPage?: unknown }).approvalPage
  if (typeof page !== 'string')
    throw new FleetError(
      `the agent of ${dir} has no approval page: set "approvals": {"port": N} in its config and restart it`,
      { code: 'ERR_APPROVALS_OFF' }
    )
  process.stderr.write(`approve at ${page}\n`)
  const request = { cmd: 'approve', type: asked.type, actor: asked.actor, body: asked.json }
  return answerOf(await controlRequest(dir, request, APPROVE_WAIT_MS))
}

function answerOf(answer: Record<string, unknown>): Appended {
  return {
    feed: String(answer.feed),
    seq: Number(answer.seq),
    hash: String(answer.hash),
    sealed: answer.sealed === true
  }
}

/** No agent runs for the state directory: its feed is opened here, with its TPM (and owner token). */
async function appendOffline(
  options: AppendOptions,
  identity: FeedIdentity,
  asked: Asked,
  signing: 'pkcs11' | undefined
): Promise<Appended> {
  const key = signing === 'pkcs11' ? await openActorKey(options) : undefined
  try {
    const { tpm, signer, close } = await unlockSigner(options.state, identity, options)
    try {
      const feed = await openOwnFeed({
        dir: options.state,
        tpm,
        signer,
        fleetId: identity.fleetId,
        feedId: identity.feedId
      })
      try {
        const ontology = await storedOntology(feed.store, identity)
        feed.ledger.useOntology(ontology)
        feed.ledger.useActors(await storedActors(feed.store, identity))
        const body = bodyFromJson(asked.type, asked.json, ontology)
        let proof: Uint8Array | undefined
        if (key !== undefined) {
          const place = { fleet: identity.fleetId, device: identity.feedId, ontology }
          const prepared = prepareAction(place, { type: asked.type, actor: asked.actor, body }, systemClock.now())
          proof = await key.prove(prepared.statement, prepared.at)
        }
        const { seq, hash } = await feed.ledger.append({
          type: asked.type,
          actor: asked.actor,
          attest: null,
          body,
          proof
        })
        await feed.ledger.checkpoint()
        return { feed: identity.feedId, seq, hash: toHex(hash), sealed: feed.ledger.sealedSize > seq }
      } finally {
        await feed.close()
      }
    } finally {
      await close()
    }
  } finally {
    await key?.close()
  }
}

/** The signer of the feed `dir` writes, with the TPM that keeps its clock and rollback counter; close() both. */
async function unlockSigner(
  dir: string,
  identity: FeedIdentity,
  options: { tcti?: string } & PinOptions
): Promise<{ tpm: EsysTpm; signer: HybridSigner; close: () => Promise<void> }> {
  if (identity.kind === 'owner') return await openOwner({ ...options, state: dir })
  if (pinGiven(options))
    throw new UsageError(`${dir} is a device's state: --pin-fd and --pin-credential are for owners`)
  const tcti = options.tcti
  const state = await readDeviceState(dir)
  const tpm = await openTpm(tcti ?? state.tcti)
  try {
    const device = await unlockDevice(tpm, state, await measurementOf(state))
    return { tpm, signer: deviceSigner(tpm, device), close: async () => await tpm.close() }
  } catch (err) {
    await tpm.close()
    throw err
  }
}

/** An action refused for want of its actor's signature: the error says how to give one. */
function withProofHint(err: unknown, asked: Asked): unknown {
  if ((err as { code?: unknown }).code !== 'ERR_ACTOR_PROOF_MISSING') return err
  return new FleetError(
    `${(err as Error).message}: an ${asked.actor.role}'s action is signed by their own hardware: ` +
      'give --pkcs11 MODULE --token LABEL (their PKCS#11 token) or --webauthn (their security key, ' +
      "on the agent's approval page)",
    { code: 'ERR_ACTOR_PROOF_MISSING', cause: err }
  )
}
