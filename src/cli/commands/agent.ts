import type { Command } from 'commander'
import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { multiaddr } from '@multiformats/multiaddr'
import {
  EsysTpm, nativeHasher, parseBootPolicy, parsePublic, verifyBoot, fingerprint, KeyReleaseRefusedError, EVENTLOG_LIMITS, PCR_COUNT, type PcrSelection, type Tpm
} from '../../attest/index.js'
import {
  initDevice, unlockDevice, agentMeasurement, readDeviceState, writeDeviceState, loadConfig, createLogger, DEVICE_STATE_FILE,
  readDeviceEnrolment, AgentRuntime, startControlServer, controlRequest, deviceSigner, type PeerStatus, type ResidentMemory, type RuntimeHooks
} from '../../agent/index.js'
import type { HybridSigner } from '../../identity/index.js'
import { createFleetNode } from '../../p2p/index.js'
import { UsageError, toHex } from '../../common/index.js'
import { makeOutput } from '../output.js'
import { readInputFile } from '../options.js'

const DEFAULT_EVENT_LOG = '/sys/kernel/security/tpm0/binary_bios_measurements'

function parsePcrList (text: string, flag: string): number[] {
  const pcrs = text.split(',').map((item) => {
    if (!/^\d{1,2}$/.test(item) || Number(item) >= PCR_COUNT) throw new UsageError(`${flag}: "${item}" is not a PCR number`)
    return Number(item)
  })
  if (new Set(pcrs).size !== pcrs.length) throw new UsageError(`${flag}: a PCR is listed twice`)
  return pcrs
}

/**
 * fleet init --state DIR --tcti T [--boot-pcrs 0,1,2,3,4,7] [--agent-pcr 23] [--yes] [--json]
 * fleet run --state DIR [--tcti T] [--config FILE] [--listen MULTIADDR] [--eventlog FILE --policy FILE] [--once] [--json]
 */
export function registerAgentCommands (program: Command): void {
  program.command('init')
    .description('create this device\'s identity in its TPM: AK, DSK, and ML-DSA-65 and libp2p keys sealed to the boot and the agent')
    .requiredOption('--state <dir>', 'state directory (public data and TPM-wrapped blobs only)')
    .requiredOption('--tcti <tcti>', 'TPM to use, e.g. device:/dev/tpmrm0')
    .option('--boot-pcrs <list>', 'boot PCRs the keys are sealed to', '0,1,2,3,4,7')
    .option('--agent-pcr <n>', 'PCR the agent measures itself into (16..23)', '23')
    .option('--yes', 'replace an existing identity in this state directory')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  fleet init --state /var/lib/fleet --tcti device:/dev/tpmrm0')
    .action(async (options: { state: string, tcti: string, bootPcrs: string, agentPcr: string, yes?: boolean, json?: boolean }) => {
      const bootPcrs = parsePcrList(options.bootPcrs, '--boot-pcrs')
      const agentPcr = Number(options.agentPcr)
      if (!/^\d+$/.test(options.agentPcr) || agentPcr < 16 || agentPcr > 23) throw new UsageError('--agent-pcr must be 16..23')
      if (bootPcrs.includes(agentPcr)) throw new UsageError('--agent-pcr cannot also be a boot PCR')
      if (existsSync(path.join(options.state, DEVICE_STATE_FILE)) && options.yes !== true) {
        throw new UsageError(`${options.state} already holds an identity; pass --yes to replace it`)
      }
      const tpm = await EsysTpm.open({ tcti: options.tcti })
      try {
        const state = await initDevice(tpm, { tcti: options.tcti, bootPcrs, agentPcr, measurement: await agentMeasurement({ bootPcrs, agentPcr }), random: randomBytes, now: () => new Date() })
        await writeDeviceState(options.state, state)
        makeOutput(options.json === true).result(
          { state: path.resolve(options.state), deviceId: state.deviceId, fingerprint: fingerprint(state.deviceId), peerId: state.peer.peerId },
          `device initialised in ${path.resolve(options.state)}\ndeviceId:    ${state.deviceId}\nfingerprint: ${fingerprint(state.deviceId)}   (compare it during enrolment)\npeerId:      ${state.peer.peerId}`)
      } finally {
        await tpm.close()
      }
    })

  program.command('run')
    .description('run the agent: check the TPM is this device\'s, measure the agent, release keys only on a good boot, join the network')
    .requiredOption('--state <dir>', 'state directory made by fleet init')
    .option('--tcti <tcti>', 'TPM to use (default: FLEET_TCTI, or the one given to fleet init)')
    .option('--config <file>', 'config file (JSON; see README)')
    .option('--listen <multiaddr>', 'listen address, e.g. /ip4/0.0.0.0/tcp/7000')
    .option('--peer <multiaddr...>', 'fleet peers to connect to at start, besides those found over mDNS')
    .option('--eventlog <file>', `boot event log, to name the events that differ when keys stay sealed (default ${DEFAULT_EVENT_LOG} when present)`)
    .option('--policy <file>', 'boot policy for that explanation')
    .option('--once', 'start, report, and stop (for checks and scripts)')
    .option('--json', 'print the status as JSON')
    .addHelpText('after', `
Example:
  fleet run --state /var/lib/fleet --listen /ip4/0.0.0.0/tcp/7000
Exit codes: 0 stopped cleanly, 1 refused to start (another TPM, a bad boot or a changed agent: the reason on stderr).`)
    .action(async (options: RunOptions) => { await runAgent(options) })
}

export interface RunOptions { state: string, tcti?: string, config?: string, listen?: string, peer?: string[], eventlog?: string, policy?: string, once?: boolean, json?: boolean }

/** What simnet's hostile agents add to a run (the CLI adds nothing). */
export interface RunExtras {
  hooks?: RuntimeHooks
  /** Replaces the TPM the runtime uses (after the keys are released). */
  wrapTpm?: (tpm: Tpm) => Tpm
  onRuntime?: (runtime: AgentRuntime, signer: HybridSigner) => void
}

/**
 * The slab size of Node's pool for small Buffers while the agent runs: 64 KiB by default since
 * Node 24. A long-running agent keeps small buffers (peer ids, addresses, member records) from
 * many slabs, and each keeps its whole slab. With 8 KiB slabs (Node's earlier default), 12
 * agents with 11 peers each held 7.0 MiB of buffer memory instead of 17.5 MiB.
 */
export const AGENT_BUFFER_POOL_BYTES = 8192

/** fleet run: releases the keys only on a verified boot, then runs the agent until SIGTERM/SIGINT. */
export async function runAgent (options: RunOptions, extras: RunExtras = {}): Promise<void> {
  Buffer.poolSize = AGENT_BUFFER_POOL_BYTES
  for (const address of options.peer ?? []) {
    try {
      multiaddr(address)
    } catch {
      throw new UsageError(`--peer ${address} is not a multiaddr`)
    }
  }
  const state = await readDeviceState(options.state)
  const config = await loadConfig({
    ...(options.config === undefined ? {} : { file: options.config }),
    env: { ...process.env, FLEET_TCTI: options.tcti ?? process.env.FLEET_TCTI ?? state.tcti },
    flags: { state: options.state, ...(options.listen === undefined ? {} : { listen: [options.listen] }) }
  })
  const logger = createLogger({ level: config.logLevel, pretty: process.stderr.isTTY })
  const tpm = await EsysTpm.open({ tcti: config.tcti })
  const selection = state.sealing.selection as PcrSelection
  const bootPcrs = selection.flatMap((bank) => bank.pcrs).filter((pcr) => pcr !== state.sealing.agentPcr)
  let device
  try {
    device = await unlockDevice(tpm, state, await agentMeasurement({ bootPcrs, agentPcr: state.sealing.agentPcr }))
  } catch (err) {
    if (err instanceof KeyReleaseRefusedError) await explainBoot(tpm, state, options)
    await tpm.close()
    throw err
  }
  const enrolment = await readDeviceEnrolment(options.state, state.deviceId)
  let runtime: AgentRuntime | undefined
  let control: { close: () => Promise<void> } | undefined
  let node
  if (enrolment === undefined) {
    // Not enrolled: nobody is admitted; fleet join opens the enrolment window.
    node = await createFleetNode({ privateKey: device.peerKey, admission: { allows: () => false }, listen: config.listen, mdns: false })
  } else {
    const logFile = options.eventlog ?? DEFAULT_EVENT_LOG
    runtime = await AgentRuntime.start({
      dir: options.state, tpm: extras.wrapTpm?.(tpm) ?? tpm, state, device, enrolment, logger, listen: config.listen, mdns: config.mdns,
      attestIntervalMs: config.attestIntervalSec * 1000, batchMs: config.batchMs, batchEntries: config.batchEntries, routineBatchMs: config.routineBatchSec * 1000, witnessesPerFeed: config.witnessesPerFeed,
      eventLog: async () => await readInputFile(logFile, 'event log', EVENTLOG_LIMITS.maxLogBytes),
      onPeersChange: (peers) => { void writePeers(options.state, peers).catch(() => undefined) },
      // The agent runs on the native binding anyway (EsysTpm): its batch hasher is the faster one.
      hasher: nativeHasher(),
      ...(extras.hooks === undefined ? {} : { hooks: extras.hooks })
    })
    extras.onRuntime?.(runtime, deviceSigner(tpm, device))
    node = runtime.node
    control = await startControlServer(runtime, options.state, state.deviceId)
    if (config.metricsPort > 0) {
      // Loaded only when asked for: node:http brings Node's fetch implementation with it (about 3 MB of heap with prom-client).
      const { startMetricsServer } = await import('../../agent/metrics.js')
      const metrics = await startMetricsServer(runtime, tpm, config.metricsPort)
      const controlServer = control
      control = { close: async () => { await metrics.close(); await controlServer.close() } }
      logger.info({ url: `http://127.0.0.1:${metrics.port}/metrics` }, 'metrics')
    }
    for (const address of options.peer ?? []) {
      void runtime.node.dial(multiaddr(address)).catch((err: unknown) => logger.warn({ address, err: (err as Error).message }, 'could not reach a peer given with --peer'))
    }
  }
  const status = { deviceId: state.deviceId, peerId: node.peerId.toString(), enrolled: enrolment !== undefined, fleetId: enrolment === undefined ? null : toHex(enrolment.fleetId), addresses: node.getMultiaddrs().map((a) => a.toString()) }
  logger.info(status, 'agent running: keys released after a verified boot and self-measurement')
  makeOutput(options.json === true).result(status, `agent running as ${state.deviceId}${enrolment === undefined ? ' (not enrolled: run fleet join)' : ` in fleet ${status.fleetId ?? ''}`}\npeerId ${status.peerId}\nlistening on ${status.addresses.join(' ')}`)
  if (options.once !== true) {
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve())
      process.once('SIGINT', () => resolve())
    })
    logger.info('stopping')
  }
  await control?.close()
  if (runtime !== undefined) await runtime.stop()
  else await node.stop()
  await tpm.close()
}

/** When keys stay sealed: quote the boot now and judge it, so the operator sees which events differ. */
async function explainBoot (tpm: EsysTpm, state: Awaited<ReturnType<typeof readDeviceState>>, options: { eventlog?: string, policy?: string }): Promise<void> {
  const logFile = options.eventlog ?? (existsSync(DEFAULT_EVENT_LOG) ? DEFAULT_EVENT_LOG : undefined)
  if (logFile === undefined || options.policy === undefined) return
  const policy = parseBootPolicy(await readInputFile(options.policy, 'boot policy', 1024 * 1024))
  const eventLog = await readInputFile(logFile, 'event log', EVENTLOG_LIMITS.maxLogBytes)
  const ak = { public: new Uint8Array(Buffer.from(state.attestationKey.public, 'base64')), private: new Uint8Array(Buffer.from(state.attestationKey.private, 'base64')) }
  const nonce = randomBytes(32)
  const quote = await tpm.quote(ak, nonce, [{ hash: policy.bank, pcrs: policy.pcrs.slice() }])
  const result = verifyBoot({ ak: parsePublic(ak.public), attest: quote.attest, signature: quote.signature, nonce, eventLog }, policy)
  for (const reason of result.verdict.reasons) process.stderr.write(`boot: ${reason.message}\n`)
}

export const PEERS_FILE = 'peers.json'

/** The running agent's view of its peers, for fleet peers (written atomically on every change). */
async function writePeers (dir: string, peers: PeerStatus[]): Promise<void> {
  const file = path.join(dir, PEERS_FILE)
  await writeFile(`${file}.tmp-${process.pid}`, JSON.stringify({ updatedAt: new Date().toISOString(), peers }, null, 2) + '\n')
  await rename(`${file}.tmp-${process.pid}`, file)
}

/** fleet peers --state DIR [--json] */
export function registerPeersCommand (program: Command): void {
  program.command('peers')
    .description('the peers the running agent has seen, with its last verdict on each')
    .requiredOption('--state <dir>', 'device state directory')
    .option('--json', 'print as JSON')
    .action(async (options: { state: string, json?: boolean }) => {
      let view: { updatedAt: string, peers: PeerStatus[] }
      try {
        const text = await readFile(path.join(options.state, PEERS_FILE), 'utf8')
        if (text.length > 4 * 1024 * 1024) throw new Error('too large')
        view = JSON.parse(text) as typeof view
        if (!Array.isArray(view.peers)) throw new Error('no peers list')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') view = { updatedAt: '', peers: [] }
        else throw new UsageError(`${path.join(options.state, PEERS_FILE)}: ${(err as Error).message}`)
      }
      const text = view.peers.length === 0
        ? 'no peers seen yet (is fleet run running?)'
        : view.peers.map((p) => `${p.trusted ? 'trusted  ' : (p.kind ?? 'refused').padEnd(9)} ${p.deviceId ?? '?'.padEnd(52)} ${p.hostname ?? ''} ${p.peerId} ${p.at}${p.reasons.length > 0 ? `\n          ${p.reasons.join('\n          ')}` : ''}`).join('\n')
      makeOutput(options.json === true).result(view, text)
    })
}

/** fleet status --state DIR [--json] */
export function registerStatusCommand (program: Command): void {
  program.command('status')
    .description('ask the running agent (its local control socket) for its state: peers, verdicts, feeds held')
    .requiredOption('--state <dir>', 'device state directory')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExit codes: 0 the agent answered, 1 no agent is running for this state directory.')
    .action(async (options: { state: string, json?: boolean }) => {
      const answer = await controlRequest(options.state, { cmd: 'status' }, 10_000)
      const s = answer.status as { deviceId: string, peerId: string, fleetId: string, feed: { size: number, sealed: number }, heads: Record<string, number>, peers: PeerStatus[], connections: number, memory: ResidentMemory }
      const text = [
        `device ${s.deviceId} in fleet ${s.fleetId}`,
        `peerId ${s.peerId}; ${s.connections} connection(s); RSS ${(s.memory.rssBytes / 1048576).toFixed(0)} MiB${s.memory.anonBytes === undefined ? '' : ` (own ${(s.memory.anonBytes / 1048576).toFixed(0)} MiB)`}`,
        `own feed: ${s.feed.size} entries, ${s.feed.sealed} sealed`,
        `feeds held: ${Object.entries(s.heads).map(([feed, size]) => `${feed.slice(0, 12)}…=${size}`).join(' ')}`,
        ...s.peers.map((p) => `  ${p.trusted ? 'trusted  ' : (p.kind ?? 'refused').padEnd(9)} ${p.deviceId ?? '?'} ${p.hostname ?? ''}`)
      ].join('\n')
      makeOutput(options.json === true).result(s, text)
    })
}
