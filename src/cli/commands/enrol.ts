import type { Command } from 'commander'
import { existsSync } from 'node:fs'
import os from 'node:os'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { parseBootPolicy, loadTrustStore, fingerprint, EVENTLOG_LIMITS, type PcrSelection } from '../../attest/index.js'
import {
  readDeviceState,
  unlockDevice,
  agentMeasurement,
  acceptEnrolment,
  enrolPeer,
  openOwnFeed,
  ownerFeedId,
  enrolmentEntry,
  writeDeviceEnrolment,
  keepOwnerCopies,
  readDeviceEnrolment,
  DEVICE_ROLES,
  ENROLMENT_FILE,
  HOSTNAME_PATTERN,
  publishOwnerFeed,
  fleetServiceTag,
  type DeviceRole
} from '../../agent/index.js'
import { BASE_ONTOLOGY, decodeEntry, ontologyAfter, type AppendInput, type Entry } from '../../ledger/index.js'
import type { HybridSigner } from '../../identity/index.js'
import { createFleetNode } from '../../p2p/index.js'
import { FleetError, UsageError, cryptoRandom, systemClock } from '../../common/index.js'
import { makeOutput, makeWaiting } from '../output.js'
import { readInputFile, repeatable } from '../options.js'
import { askYesNo, parseSeconds } from '../confirm.js'
import { openOwner, pinOptions, type PinOptions } from '../owner-access.js'
import { openTpm } from '../tpm-session.js'
import { appendTpmTier } from '../tpm-tier-statement.js'

/** mDNS service of devices waiting to be enrolled (enrolled agents use the fleet's own tag). */
export const JOIN_SERVICE_TAG = '_fleet-join._udp.local'
const DEFAULT_EVENT_LOG = '/sys/kernel/security/tpm0/binary_bios_measurements'

function parsePeer(text: string): Multiaddr {
  try {
    const addr = multiaddr(text)
    if (addr.getComponents().find((c) => c.name === 'p2p') === undefined) throw new Error('it names no peer (/p2p/…)')
    return addr
  } catch (err) {
    throw new UsageError(`--peer ${text}: not a multiaddr with a PeerId (${(err as Error).message})`)
  }
}

/**
 * fleet join --state DIR [--tcti T] [--eventlog FILE] [--role server] [--hostname H] [--listen MA] [--yes --expect-fleet ID] [--timeout S] [--json]
 * fleet enrol --state OWNERDIR --policy FILE --trust-store DIR [--software-tpm-ca DIR] [--allow-software-tpm] [--peer MA] [--yes --expect DEVICEID] [--timeout S] [--pin-fd N | --pin-credential NAME] [--json]
 */
export function registerEnrolCommands(program: Command): void {
  program
    .command('join')
    .description('device side of the enrolment ceremony: open the enrolment window and wait for the owner')
    .requiredOption('--state <dir>', 'state directory made by fleet init')
    .option('--tcti <tcti>', 'TPM to use (default: the one given to fleet init)')
    .option('--eventlog <file>', `boot event log sent with the quote (default ${DEFAULT_EVENT_LOG})`)
    .option('--role <role>', `role requested: ${DEVICE_ROLES.join(', ')}`, 'server')
    .option('--hostname <name>', 'name shown to the owner', os.hostname())
    .option('--listen <multiaddr>', 'listen address', '/ip4/0.0.0.0/tcp/0')
    .option('--yes', 'confirm without a person at this device (only with --expect-fleet)')
    .option('--expect-fleet <fleetId>', 'accept only this fleet')
    .option('--timeout <seconds>', 'close the window after this long', '600')
    .option('--json', 'print events and the result as JSON lines')
    .addHelpText(
      'after',
      `
Example:
  fleet join --state /var/lib/fleet                     # then run fleet enrol on the owner's machine
Compare the 6 digits shown here with the owner's screen before you confirm.
Exit codes: 0 enrolled, 1 refused or aborted, 2 bad usage.`
    )
    .action(
      async (options: {
        state: string
        tcti?: string
        eventlog?: string
        role: string
        hostname: string
        listen: string
        yes?: boolean
        expectFleet?: string
        timeout: string
        json?: boolean
      }) => {
        if (!(DEVICE_ROLES as readonly string[]).includes(options.role))
          throw new UsageError(`--role must be one of ${DEVICE_ROLES.join(', ')}`)
        if (options.yes === true && options.expectFleet === undefined)
          throw new UsageError('--yes needs --expect-fleet: an unattended device must know which fleet to join')
        if (options.expectFleet !== undefined && !/^[0-9a-f]{64}$/.test(options.expectFleet))
          throw new UsageError('--expect-fleet must be a fleetId (64 hex digits)')
        if (!new RegExp(HOSTNAME_PATTERN).test(options.hostname))
          throw new UsageError('--hostname must be 1..255 characters, none of them a control character')
        const seconds = parseSeconds(options.timeout, '--timeout')
        const out = makeOutput(options.json === true)
        const state = await readDeviceState(options.state)
        if ((await readDeviceEnrolment(options.state, state.deviceId)) !== undefined)
          throw new UsageError(`${options.state} is already enrolled (${ENROLMENT_FILE}); a device is enrolled once`)
        const logFile = options.eventlog ?? DEFAULT_EVENT_LOG
        const eventLog = await readInputFile(logFile, 'event log', EVENTLOG_LIMITS.maxLogBytes)
        const tpm = await openTpm(options.tcti ?? state.tcti)
        try {
          const selection = state.sealing.selection as PcrSelection
          const bootPcrs = selection.flatMap((bank) => bank.pcrs).filter((pcr) => pcr !== state.sealing.agentPcr)
          const device = await unlockDevice(
            tpm,
            state,
            await agentMeasurement({ bootPcrs, agentPcr: state.sealing.agentPcr })
          )
          const node = await createFleetNode({
            privateKey: device.peerKey,
            admission: { allows: () => true },
            listen: [options.listen],
            serviceTag: JOIN_SERVICE_TAG
          })
          try {
            const addresses = node.getMultiaddrs().map((a) => a.toString())
            out.result(
              {
                event: 'window-open',
                deviceId: state.deviceId,
                fingerprint: fingerprint(state.deviceId),
                peerId: state.peer.peerId,
                addresses
              },
              `enrolment window open for ${seconds} s\ndeviceId:    ${state.deviceId}\nfingerprint: ${fingerprint(state.deviceId)}\naddresses:   ${addresses.join(' ')}`
            )
            const window = AbortSignal.timeout(seconds * 1000)
            const waiting = makeWaiting({ enabled: options.json !== true })
            let ended = false
            const waitForOwner = (): void => {
              // Not once the window has closed or the enrolment ended: nothing would clear it.
              if (!ended && !window.aborted)
                waiting.show(`waiting for the owner (the window closes after ${seconds} s)`)
            }
            waitForOwner()
            let shown = ''
            const enrolment = await acceptEnrolment(
              node,
              {
                tpm,
                state,
                eventLog,
                hostname: options.hostname,
                role: options.role as DeviceRole,
                random: cryptoRandom.bytes,
                expectFleetId: options.expectFleet,
                confirm: async (sas, fleet) => {
                  shown = sas
                  waiting.clear()
                  out.note(
                    `\n  fleet "${fleet.name}" (${fleet.fleetId})\n  digits: ${sas.slice(0, 3)} ${sas.slice(3)}\n`
                  )
                  if (options.yes === true) return true
                  return await askYesNo(`Do the digits ${sas} match the owner's screen?`)
                }
              },
              {
                signal: window,
                onFailure: (err) => {
                  waiting.clear()
                  out.note(`fleet: ${err.message} (the window stays open)`)
                  waitForOwner()
                }
              }
            )
              .finally(() => {
                ended = true
                waiting.clear()
              })
              .catch((err: unknown) => {
                if (window.aborted)
                  throw new FleetError(`no owner enrolled this device within ${seconds} s`, {
                    code: 'ERR_ENROLMENT_TIMEOUT'
                  })
                throw err
              })
            await writeDeviceEnrolment(options.state, enrolment)
            // Sealed to the owner too from now on, so that the owner's first approval can be
            // installed in a boot state other than this one (after a kernel update).
            // Best effort: the device is enrolled whatever happens here, and the agent tries again at its start.
            const copies = await keepOwnerCopies(tpm, state, options.state, enrolment.ownerKey.p256, {
              renew: true
            }).catch((err: unknown) => {
              out.note(
                `fleet: no copy of the keys sealed to the owner was kept (${(err as Error).message}): the agent tries again when it starts`
              )
              return { keys: false, secrets: undefined }
            })
            if (copies.keys && copies.secrets === undefined)
              out.note(
                'fleet: the workload secrets are in use by another command: they get their copy sealed to the owner when the agent starts'
              )
            const fleetId = Buffer.from(enrolment.fleetId).toString('hex')
            out.result(
              {
                event: 'enrolled',
                deviceId: state.deviceId,
                fleetId,
                role: enrolment.record.role,
                policyId: enrolment.record.policyId,
                sas: shown,
                ownerCopy: copies.keys,
                secretsCopied: copies.secrets ?? []
              },
              `enrolled in fleet ${fleetId} as ${enrolment.record.role}`
            )
          } finally {
            await node.stop()
          }
        } finally {
          await tpm.close()
        }
      }
    )

  pinOptions(
    program
      .command('enrol')
      .description(
        'owner side of the enrolment ceremony: find a waiting device, check its TPM and boot, confirm the digits, sign its record'
      )
      .requiredOption('--state <dir>', 'owner state directory made by fleet owner init')
      .option('--tcti <tcti>', 'TPM of this machine (default: the one given to fleet owner init)')
  )
    .requiredOption('--policy <file>', 'boot policy the device must satisfy (fleet policy create)')
    .requiredOption(
      '--trust-store <dir>',
      "folder of EK CA certificates (PEM or DER) the device's EK certificate must chain to"
    )
    .option(
      '--software-tpm-ca <dir>',
      "folder of software TPM EK CA certificates (swtpm's local CA): devices chaining to them are software TPMs"
    )
    .option(
      '--allow-software-tpm',
      "accept software TPMs (testing only); without --software-tpm-ca, every CA of --trust-store is taken as a software TPM's"
    )
    .option('--peer <multiaddr>', "the device's address with /p2p/PEERID (default: the first device found over mDNS)")
    .option('--yes', 'confirm without a person (only with --expect)')
    .option('--expect <deviceId>', 'enrol only this device')
    .option('--timeout <seconds>', 'give up after this long', '120')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet enrol --state ~/.fleet-owner --policy policy.json --trust-store /etc/fleet/ek-cas
  fleet enrol --state ~/.fleet-owner --policy policy.json --trust-store /tmp/dev1/ca --allow-software-tpm
  fleet enrol --state ~/.fleet-owner --policy policy.json --trust-store /etc/fleet/ek-cas --pin-fd 3 3<pin-file
A device is a software TPM when its EK certificate chains to a CA given as a software TPM's CA,
whatever the certificates' names say.
Compare the device's fingerprint and the 6 digits with the device's screen before you confirm.
Exit codes: 0 enrolled, 1 refused or aborted, 2 bad usage.`
    )
    .action(
      async (
        options: PinOptions & {
          state: string
          tcti?: string
          policy: string
          trustStore: string
          softwareTpmCa?: string
          allowSoftwareTpm?: boolean
          peer?: string
          yes?: boolean
          expect?: string
          timeout: string
          json?: boolean
        }
      ) => {
        if (options.yes === true && options.expect === undefined)
          throw new UsageError('--yes needs --expect: an unattended ceremony must know which device it enrols')
        if (options.expect !== undefined && !/^[a-z2-7]{52}$/.test(options.expect))
          throw new UsageError('--expect must be a deviceId (52 base32 characters)')
        const seconds = parseSeconds(options.timeout, '--timeout')
        const peer = options.peer === undefined ? undefined : parsePeer(options.peer)
        if (!existsSync(options.trustStore)) throw new UsageError(`--trust-store ${options.trustStore}: no such folder`)
        if (options.softwareTpmCa !== undefined && !existsSync(options.softwareTpmCa))
          throw new UsageError(`--software-tpm-ca ${options.softwareTpmCa}: no such folder`)
        const anchors = await loadTrustStore(options.trustStore)
        // --allow-software-tpm alone declares the store a software TPM's: its devices are marked so.
        const softwareOnly = options.allowSoftwareTpm === true && options.softwareTpmCa === undefined
        const trustStore = softwareOnly ? [] : anchors
        const softwareTpmCas = softwareOnly
          ? anchors
          : options.softwareTpmCa === undefined
            ? []
            : await loadTrustStore(options.softwareTpmCa)
        const policy = parseBootPolicy(await readInputFile(options.policy, 'boot policy', 1024 * 1024))
        const out = makeOutput(options.json === true)
        const owner = await openOwner(options)
        try {
          const { state: ownerState, tpm, signer, fleetId } = owner
          const feed = await openOwnFeed({ dir: options.state, tpm, signer, fleetId, feedId: ownerFeedId(fleetId) })
          const node = await createFleetNode({
            privateKey: await generateKeyPair('Ed25519'),
            admission: { allows: () => true },
            listen: ['/ip4/0.0.0.0/tcp/0'],
            mdns: peer === undefined,
            serviceTag: JOIN_SERVICE_TAG
          })
          try {
            const deadline = AbortSignal.timeout(seconds * 1000)
            const waiting = makeWaiting({ enabled: options.json !== true })
            if (peer === undefined) waiting.show('looking for a device waiting to be enrolled (fleet join)')
            const target = peer ?? (await discover(node, deadline, { first: true }).finally(() => waiting.clear()))[0]
            if (target === undefined)
              throw new FleetError(
                `no device waiting to be enrolled was found within ${seconds} s (is fleet join running on it?)`,
                { code: 'ERR_NO_DEVICE' }
              )
            out.note(`enrolling ${target.toString()}`)
            waiting.show("checking the device's TPM and boot")
            let shown = ''
            const result = await enrolPeer(
              node,
              target,
              {
                owner: { state: ownerState, signer },
                policy,
                trustStore,
                softwareTpmCas,
                allowSoftwareTpm: options.allowSoftwareTpm === true,
                expectDeviceId: options.expect,
                confirm: async (sas, device) => {
                  shown = sas
                  waiting.clear()
                  out.note(
                    [
                      '',
                      `  device ${device.hostname} (${device.role})${device.softwareTpm ? ' — SOFTWARE TPM' : ''}`,
                      `  deviceId:    ${device.deviceId}`,
                      `  fingerprint: ${device.fingerprint}`,
                      `  boot:        trusted (policy ${device.verdict.policyId.slice(0, 16)}…)`,
                      ...(device.unquoted.length === 0
                        ? []
                        : [
                            `  not quoted:  ${device.unquoted.map((u) => `PCR ${u.pcr} (${u.events} events)`).join(', ')}` +
                              ': unverified, judged by nothing'
                          ]),
                      `  digits:      ${sas.slice(0, 3)} ${sas.slice(3)}`,
                      ''
                    ].join('\n')
                  )
                  if (options.yes === true) return true
                  return await askYesNo(`Do the fingerprint and the digits ${sas} match the device's screen?`)
                },
                record: async (_signed, record) => {
                  await feed.ledger.append(enrolmentEntry(record, ownerState.name))
                },
                random: cryptoRandom.bytes,
                now: () => new Date(systemClock.now())
              },
              { signal: deadline }
            ).finally(() => waiting.clear())
            // What the EK certificate showed of its TPM, for the agents' attestation results.
            await appendTpmTier(feed.ledger, result.device, enrolmentEntry(result.record, ownerState.name).actor)
            await feed.ledger.checkpoint()
            out.result(
              {
                deviceId: result.device.deviceId,
                tpm: result.device.softwareTpm ? 'software' : 'hardware',
                fingerprint: result.device.fingerprint,
                hostname: result.device.hostname,
                role: result.device.role,
                peerId: result.device.peerId,
                fleetId: ownerState.fleetId,
                policyId: result.record.policyId,
                sas: shown
              },
              `enrolled ${result.device.hostname} (${result.device.deviceId}) as ${result.device.role} in fleet ${ownerState.fleetId}`
            )
          } finally {
            await node.stop()
            await feed.close()
          }
        } finally {
          await owner.close()
        }
      }
    )
}

/**
 * Peers found over mDNS (and any already in the peer store), as dialable addresses. Resolves at
 * the first one with `first`, else when `signal` ends the search.
 */
async function discover(
  node: Awaited<ReturnType<typeof createFleetNode>>,
  signal: AbortSignal,
  options: { first: boolean }
): Promise<Multiaddr[]> {
  return await new Promise<Multiaddr[]>((resolve) => {
    const found = new Map<string, Multiaddr>()
    const done = (): void => resolve([...found.values()])
    signal.addEventListener('abort', done, { once: true })
    const add = (id: string, addrs: Multiaddr[]): void => {
      const addr = addrs.find((a) => a.toString().includes('/tcp/'))
      if (addr === undefined || found.has(id)) return
      found.set(id, addr.encapsulate(`/p2p/${id}`))
      if (options.first) {
        signal.removeEventListener('abort', done)
        done()
      }
    }
    node.addEventListener('peer:discovery', (evt) => {
      add(evt.detail.id.toString(), evt.detail.multiaddrs)
    })
    void node.peerStore.all().then((peers) => {
      for (const peer of peers)
        add(
          peer.id.toString(),
          peer.addresses.map((a) => a.multiaddr)
        )
    })
  })
}

/** Options shared by the owner's statements handed to the fleet (revoke, clear-quarantine, policy and ontology publish). */
export interface StatementOptions extends PinOptions {
  state: string
  tcti?: string
  peer?: string[]
  timeout: string
  json?: boolean
}

/**
 * Appends an owner-signed statement (or several, in order) to the owner's feed (unless `make`,
 * given every entry of the feed, returns undefined: it is there already) and hands the feed to the agents found. Returns
 * the agents reached.
 */
export async function publishOwnerStatement(
  options: StatementOptions,
  make: (
    entries: Entry[],
    actor: { id: string; role: 'owner' },
    owner: { signer: HybridSigner; fleetId: Uint8Array }
  ) => AppendInput | AppendInput[] | undefined | Promise<AppendInput | AppendInput[] | undefined>
): Promise<string[]> {
  const seconds = parseSeconds(options.timeout, '--timeout')
  const peers = (options.peer ?? []).map(parsePeer)
  const owner = await openOwner(options)
  try {
    const { state: ownerState, tpm, signer, fleetId } = owner
    const feedId = ownerFeedId(fleetId)
    const feed = await openOwnFeed({ dir: options.state, tpm, signer, fleetId, feedId })
    try {
      const entries: Entry[] = []
      for (let seq = 0; seq < feed.ledger.size; seq++)
        entries.push(decodeEntry((await feed.ledger.getEntry(seq))!).entry)
      const statement = await make(
        entries,
        { id: `owner/${ownerState.name}`.slice(0, 128), role: 'owner' },
        { signer, fleetId }
      )
      // Several statements (e.g. an ontology.update and the first entry of an action it adds) go in
      // order, each checked against the ontology in force at it, as the agents will check them.
      let ontology = entries.reduce(ontologyAfter, BASE_ONTOLOGY)
      feed.ledger.useOntology(ontology)
      for (const one of statement === undefined ? [] : Array.isArray(statement) ? statement : [statement]) {
        const { seq } = await feed.ledger.append(one)
        if (one.type !== 'ontology.update') continue
        ontology = ontologyAfter(ontology, decodeEntry((await feed.ledger.getEntry(seq))!).entry)
        feed.ledger.useOntology(ontology)
      }
      await feed.ledger.checkpoint()
      const node = await createFleetNode({
        privateKey: await generateKeyPair('Ed25519'),
        admission: { allows: () => true },
        listen: ['/ip4/0.0.0.0/tcp/0'],
        mdns: peers.length === 0,
        serviceTag: fleetServiceTag(fleetId)
      })
      try {
        const targets =
          peers.length > 0 ? peers : await discover(node, AbortSignal.timeout((seconds * 1000) / 2), { first: false })
        return await publishOwnerFeed(node, feed.store, feedId, feed.ledger.sealedSize, targets, {
          timeoutMs: seconds * 1000
        })
      } finally {
        await node.stop()
      }
    } finally {
      await feed.close()
    }
  } finally {
    await owner.close()
  }
}

/** A statement about one enrolled device: `make` gets the feed's entries about it. */
async function publishStatement(
  deviceId: string,
  options: StatementOptions & { reason: string },
  make: (about: Entry[], actor: { id: string; role: 'owner' }) => AppendInput | undefined
): Promise<string[]> {
  if (!/^[a-z2-7]{52}$/.test(deviceId)) throw new UsageError('the deviceId must be 52 base32 characters')
  if (options.reason.length === 0 || options.reason.length > 256)
    throw new UsageError('--reason must be 1..256 characters')
  return await publishOwnerStatement(options, (entries, actor) => {
    const about = entries.filter((entry) => entry.body.deviceId === deviceId)
    if (!about.some((entry) => entry.type === 'device.enrol'))
      throw new FleetError(`device ${deviceId} was never enrolled in this fleet`, { code: 'ERR_UNKNOWN_DEVICE' })
    return make(about, actor)
  })
}

/** Adds the options every owner statement takes. */
export function statementOptions(command: Command): Command {
  return pinOptions(command.option('--tcti <tcti>', 'TPM of this machine (default: the one given to fleet owner init)'))
    .option(
      '--peer <multiaddr>',
      'an agent to hand the statement to, repeatable (default: those found over mDNS)',
      repeatable
    )
    .option('--timeout <seconds>', 'how long to look for agents and wait for them', '10')
    .option('--json', 'print the result as JSON')
}

export const notReached = ' — none reached yet: run the command again near the fleet, or with --peer'

function statementCommand(program: Command, name: string, description: string): Command {
  return statementOptions(
    program
      .command(name)
      .description(description)
      .requiredOption('--state <dir>', 'owner state directory')
      .argument('<deviceId>', 'the device')
      .requiredOption('--reason <text>', 'why (recorded in the ledger)')
  )
}

/**
 * fleet revoke --state OWNERDIR DEVICEID --reason TEXT [--peer MA]... [--timeout S] [--json]
 */
export function registerRevokeCommand(program: Command): void {
  statementCommand(
    program,
    'revoke',
    "revoke an enrolled device: an owner-signed device.revoke in the owner's feed, handed to the agents found (they hang up on it and refuse it)"
  )
    .option(
      '--keep <n>',
      "cut its feed here: how many of its entries stay in the fleet's record (every agent ends up holding exactly these, later ones are refused)"
    )
    .addHelpText(
      'after',
      `
Example:
  fleet revoke --state ~/.fleet-owner DEVICEID --reason 'laptop stolen'
Revocations spread agent to agent with the owner's feed, so reaching one agent is enough; more is faster.
Without --keep, each agent keeps what it held of the device's feed when it learnt of the revocation.
With it, every agent holds the same entries: those it lacks below the cut it still takes from its
peers, and those it held past the cut are kept apart and not served. How much an agent holds of
the feed: fleet status --state DIR --json (heads) or fleet ledger tail --state DIR --feed DEVICEID.`
    )
    .action(async (deviceId: string, options: StatementOptions & { reason: string; keep?: string }) => {
      if (options.keep !== undefined && !/^(0|[1-9]\d{0,14})$/.test(options.keep))
        throw new UsageError('--keep must be a whole number of entries')
      const keep = options.keep === undefined ? undefined : Number(options.keep)
      // Once revoked, a device is revoked for good; a later statement can only cut its feed earlier.
      const reached = await publishStatement(deviceId, options, (about, actor) => {
        const earlier = about
          .filter((entry) => entry.type === 'device.revoke')
          .map((entry) => entry.body.keep as number | undefined)
        const cutEarlier = keep !== undefined && earlier.every((k) => k === undefined || k > keep)
        if (earlier.length > 0 && !cutEarlier) return undefined
        // No cut is no field in the signed body (the ledger's bodies have no undefined values).
        const body: Record<string, unknown> = { deviceId, reason: options.reason }
        if (keep !== undefined) body.keep = keep
        return { type: 'device.revoke', actor, attest: null, body }
      })
      makeOutput(options.json === true).result(
        { deviceId, revoked: true, keep, reached },
        `revoked ${deviceId}${keep === undefined ? '' : `, its feed cut at ${keep} entries`}; handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
      )
    })
}

/**
 * fleet clear-quarantine --state OWNERDIR DEVICEID --reason TEXT --evidence HEX [--peer MA]... [--json]
 */
export function registerClearQuarantineCommand(program: Command): void {
  statementCommand(
    program,
    'clear-quarantine',
    'let a device quarantined for equivocation back in: an owner-signed device.clear_quarantine of one piece of evidence, handed to the agents found'
  )
    .requiredOption(
      '--evidence <id>',
      'the evidence cleared: its id (64 hex digits), as the agents log it with the quarantine'
    )
    .addHelpText(
      'after',
      `
Example:
  fleet clear-quarantine --state ~/.fleet-owner DEVICEID --reason 'fork explained: restored VM' --evidence EVIDENCEID
Only that evidence is cleared: a new fork of the device's feed (in any epoch) quarantines it again.
Agents then admit and attest the device again; entries that contradict what an agent holds stay
refused there. A revocation is not undone by this. To let a device go on with a second history
(e.g. re-provisioned from a backup), authorise it with fleet new-epoch instead.`
    )
    .action(async (deviceId: string, options: StatementOptions & { reason: string; evidence: string }) => {
      if (!/^[0-9a-f]{64}$/.test(options.evidence))
        throw new UsageError('--evidence must be an evidence id (64 hex digits)')
      const evidence = new Uint8Array(Buffer.from(options.evidence, 'hex'))
      const reached = await publishStatement(deviceId, options, (about, actor) =>
        about.some(
          (entry) =>
            entry.type === 'device.clear_quarantine' &&
            entry.body.evidence instanceof Uint8Array &&
            Buffer.from(entry.body.evidence).equals(evidence)
        )
          ? undefined
          : {
              type: 'device.clear_quarantine',
              actor,
              attest: null,
              body: { deviceId, evidence, reason: options.reason }
            }
      )
      makeOutput(options.json === true).result(
        { deviceId, evidence: options.evidence, cleared: true, reached },
        `cleared evidence ${options.evidence} against ${deviceId}; handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
      )
    })
}

/**
 * fleet new-epoch --state OWNERDIR DEVICEID --reason TEXT --epoch N --fork-size N --fork-root HEX [--peer MA]... [--json]
 */
export function registerNewEpochCommand(program: Command): void {
  statementCommand(
    program,
    'new-epoch',
    "authorise a second history of a device's feed (e.g. after re-provisioning from a backup): an owner-signed device.new_epoch, handed to the agents found"
  )
    .requiredOption('--epoch <n>', 'the new epoch (2 or more; each epoch once)')
    .requiredOption('--fork-size <n>', 'how many entries of the old history the new one keeps')
    .requiredOption(
      '--fork-root <hex>',
      "the tree root of those entries (64 hex digits; fleet ledger tail/verify on the device's store shows roots)"
    )
    .addHelpText(
      'after',
      `
Example:
  fleet new-epoch --state ~/.fleet-owner DEVICEID --reason 'restored from backup' --epoch 2 --fork-size 1200 --fork-root ROOTHEX
Agents and auditors then accept checkpoints of the device's feed in that epoch whose tree has that
root at that size, and no longer take the old history past the fork for equivocation. Any other
epoch, or another fork, stays refused, and any fork within one epoch is equivocation.`
    )
    .action(
      async (
        deviceId: string,
        options: StatementOptions & { reason: string; epoch: string; forkSize: string; forkRoot: string }
      ) => {
        if (!/^[1-9]\d{0,8}$/.test(options.epoch) || Number(options.epoch) < 2)
          throw new UsageError('--epoch must be an integer of at least 2')
        if (!/^(0|[1-9]\d{0,14})$/.test(options.forkSize))
          throw new UsageError('--fork-size must be a whole number of entries')
        if (!/^[0-9a-f]{64}$/.test(options.forkRoot))
          throw new UsageError('--fork-root must be a tree root (64 hex digits)')
        const epoch = Number(options.epoch)
        const forkSize = Number(options.forkSize)
        const forkRoot = new Uint8Array(Buffer.from(options.forkRoot, 'hex'))
        const reached = await publishStatement(deviceId, options, (about, actor) => {
          const earlier = about.find((entry) => entry.type === 'device.new_epoch' && entry.body.epoch === epoch)
          if (earlier === undefined)
            return {
              type: 'device.new_epoch',
              actor,
              attest: null,
              body: { deviceId, epoch, forkSize, forkRoot, reason: options.reason }
            }
          if (earlier.body.forkSize !== forkSize || !Buffer.from(earlier.body.forkRoot as Uint8Array).equals(forkRoot))
            throw new FleetError(`epoch ${epoch} of ${deviceId} is authorised already, with another fork point`, {
              code: 'ERR_EPOCH_TAKEN'
            })
          return undefined
        })
        makeOutput(options.json === true).result(
          { deviceId, epoch, forkSize, forkRoot: options.forkRoot, reached },
          `authorised epoch ${epoch} of ${deviceId}, forking after ${forkSize} entries; handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
        )
      }
    )
}
