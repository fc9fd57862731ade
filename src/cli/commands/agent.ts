import type { Command } from 'commander'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import {
  EsysTpm,
  parseBootPolicy,
  parsePublic,
  verifyBoot,
  fingerprint,
  KeyReleaseRefusedError,
  TpmLostError,
  TpmTimeoutError,
  TpmUnavailableError,
  EVENTLOG_LIMITS,
  PCR_COUNT
} from '../../attest/index.js'
import {
  initDevice,
  agentMeasurement,
  readDeviceState,
  writeDeviceState,
  loadConfig,
  ConfigError,
  createLogger,
  stderrIsJournal,
  DEVICE_STATE_FILE,
  startDeviceAgent,
  AGENT_BUFFER_POOL_BYTES,
  AGENT_EXIT_RESTART,
  LEDGER_DIR
} from '../../agent/index.js'
import { LevelLedgerStore, LedgerStoreWriteFailedError } from '../../ledger/index.js'
import {
  type FleetError,
  UsageError,
  cryptoRandom,
  makeDirectory,
  steadyClock,
  systemClock
} from '../../common/index.js'
import { makeOutput } from '../output.js'
import { DEFAULT_EVENT_LOG, readInputFile, repeatable } from '../options.js'
import { openTpm } from '../tpm-session.js'

/** A slow disk is reported at most this often (ms). */
const SLOW_SYNC_REPORT_MS = 2_000
/** How often the wall clock is compared with monotonic time (ms), and the step that is reported. */
const CLOCK_WATCH_MS = 1_000
const CLOCK_STEP_REPORT_MS = 2_000

function parsePcrList(text: string, flag: string): number[] {
  const pcrs = text.split(',').map((item) => {
    if (!/^\d{1,2}$/.test(item) || Number(item) >= PCR_COUNT)
      throw new UsageError(`${flag}: "${item}" is not a PCR number`)
    return Number(item)
  })
  if (new Set(pcrs).size !== pcrs.length) throw new UsageError(`${flag}: a PCR is listed twice`)
  return pcrs
}

/**
 * fleet init --state DIR --tcti T [--boot-pcrs 0,1,2,3,4,7] [--agent-pcr 23] [--yes] [--json]
 * fleet run --state DIR [--tcti T] [--config FILE] [--listen MULTIADDR] [--eventlog FILE --policy FILE] [--once] [--json]
 */
export function registerAgentCommands(program: Command): void {
  program
    .command('init')
    .description(
      "create this device's identity in its TPM: AK, DSK, and ML-DSA-65 and libp2p keys sealed to the boot and the agent"
    )
    .requiredOption('--state <dir>', 'state directory (public data and TPM-wrapped blobs only)')
    .requiredOption('--tcti <tcti>', 'TPM to use, e.g. device:/dev/tpmrm0')
    .option('--boot-pcrs <list>', 'boot PCRs the keys are sealed to', '0,1,2,3,4,7')
    .option('--agent-pcr <n>', 'PCR the agent measures itself into (16..23)', '23')
    .option('--yes', 'replace an existing identity in this state directory')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  fleet init --state /var/lib/fleet --tcti device:/dev/tpmrm0')
    .action(
      async (options: {
        state: string
        tcti: string
        bootPcrs: string
        agentPcr: string
        yes?: boolean
        json?: boolean
      }) => {
        const bootPcrs = parsePcrList(options.bootPcrs, '--boot-pcrs')
        const agentPcr = Number(options.agentPcr)
        if (!/^\d+$/.test(options.agentPcr) || agentPcr < 16 || agentPcr > 23)
          throw new UsageError('--agent-pcr must be 16..23')
        if (bootPcrs.includes(agentPcr)) throw new UsageError('--agent-pcr cannot also be a boot PCR')
        if (existsSync(path.join(options.state, DEVICE_STATE_FILE)) && options.yes !== true) {
          throw new UsageError(`${options.state} already holds an identity; pass --yes to replace it`)
        }
        // The state directory is checked before the TPM makes any key: a bad path costs nothing.
        await makeDirectory(options.state, { mode: 0o700 })
        const tpm = await openTpm(options.tcti)
        try {
          const state = await initDevice(tpm, {
            tcti: options.tcti,
            bootPcrs,
            agentPcr,
            measurement: await agentMeasurement({ bootPcrs, agentPcr }),
            random: cryptoRandom.bytes,
            now: () => new Date(systemClock.now())
          })
          await writeDeviceState(options.state, state)
          makeOutput(options.json === true).result(
            {
              state: path.resolve(options.state),
              deviceId: state.deviceId,
              fingerprint: fingerprint(state.deviceId),
              peerId: state.peer.peerId
            },
            [
              `device initialised in ${path.resolve(options.state)}`,
              `deviceId:    ${state.deviceId}`,
              `fingerprint: ${fingerprint(state.deviceId)}   (compare it during enrolment)`,
              `peerId:      ${state.peer.peerId}`
            ].join('\n')
          )
        } finally {
          await tpm.close()
        }
      }
    )

  program
    .command('run')
    .description(
      "run the agent: check the TPM is this device's, measure the agent, release keys only on a good boot, join the network"
    )
    .option('--state <dir>', 'state directory made by fleet init (or FLEET_STATE, or "state" in the config)')
    .option('--tcti <tcti>', 'TPM to use (default: FLEET_TCTI, or the one given to fleet init)')
    .option('--config <file>', 'config file (JSON; fields in docs/operations.md)')
    .option(
      '--config-if-present <file>',
      'the config file when there is one, the defaults when there is none (the systemd unit uses it)'
    )
    .option('--listen <multiaddr>', 'listen address, e.g. /ip4/0.0.0.0/tcp/7000')
    .option(
      '--peer <multiaddr>',
      'a fleet peer to connect to at start, repeatable, besides those found over mDNS',
      repeatable
    )
    .option(
      '--eventlog <file>',
      `boot event log, to name the events that differ when keys stay sealed (default ${DEFAULT_EVENT_LOG} when present)`
    )
    .option('--policy <file>', 'boot policy for that explanation')
    .option('--once', 'start, report, and stop (for checks and scripts)')
    .option('--json', 'print the status as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet run --state /var/lib/fleet --listen /ip4/0.0.0.0/tcp/7000
Exit codes: 0 stopped cleanly, 1 refused to start (another TPM, a bad boot or a changed agent: the reason on stderr),
75 (EX_TEMPFAIL) stopped because, while it ran, its TPM stopped answering (ERR_TPM_LOST) or a store write
failed, e.g. on a full disk (ERR_LEDGER_STORE_FAILED): what was stored is intact; start it again (the unit does).`
    )
    .action(async (options: RunOptions) => {
      await runAgent(options)
    })
}

export interface RunOptions {
  /** Required once the flag, FLEET_STATE and the config file are merged. */
  state?: string
  tcti?: string
  config?: string
  configIfPresent?: string
  listen?: string
  peer?: string[]
  eventlog?: string
  policy?: string
  once?: boolean
  json?: boolean
}

/** fleet run: releases the keys only on a verified boot, then runs the agent until SIGTERM/SIGINT. */
async function runAgent(given: RunOptions): Promise<void> {
  Buffer.poolSize = AGENT_BUFFER_POOL_BYTES
  for (const address of given.peer ?? []) {
    try {
      multiaddr(address)
    } catch {
      throw new UsageError(`--peer ${address} is not a multiaddr`)
    }
  }
  // The state directory may come from the flag, FLEET_STATE or the file; what the device state
  // says (its TPM, its sealing PCRs) is the default the sources may restate but not contradict.
  if (given.config !== undefined && given.configIfPresent !== undefined)
    throw new UsageError('give --config or --config-if-present, not both')
  const file =
    given.configIfPresent !== undefined && existsSync(given.configIfPresent) ? given.configIfPresent : given.config
  const sources = {
    file,
    env: process.env,
    flags: {
      state: given.state,
      tcti: given.tcti,
      listen: given.listen === undefined ? undefined : [given.listen]
    }
  }
  const stateDir = (await loadConfig(sources)).state
  const state = await readDeviceState(stateDir)
  const bootPcrs = [...new Set(state.sealing.selection.flatMap((bank) => bank.pcrs))]
    .filter((pcr) => pcr !== state.sealing.agentPcr)
    .sort((a, b) => a - b)
  const config = await loadConfig({
    ...sources,
    defaults: { tcti: state.tcti, agentPcr: state.sealing.agentPcr, bootPcrs }
  })
  if (
    config.agentPcr !== state.sealing.agentPcr ||
    [...config.bootPcrs].sort((a, b) => a - b).join(',') !== bootPcrs.join(',')
  )
    throw new ConfigError(
      given.config ?? 'environment',
      `agentPcr ${config.agentPcr} and bootPcrs ${config.bootPcrs.join(',')} differ from what this device's keys are sealed to (${state.sealing.agentPcr}; ${bootPcrs.join(',')}): they are chosen at fleet init`
    )
  const options = { ...given, state: config.state, peer: [...(config.peers ?? []), ...(given.peer ?? [])] }
  const logger = createLogger({
    level: config.logLevel,
    pretty: process.stderr.isTTY,
    journald: stderrIsJournal()
  })
  let tpm: EsysTpm
  try {
    tpm = await EsysTpm.open({ tcti: config.tcti })
  } catch (err) {
    // A TPM not answering yet (a swtpm starting again) is worth another try; anything else is not.
    if (err instanceof TpmUnavailableError || err instanceof TpmTimeoutError) return exitForRestart(err)
    throw err
  }
  // A TPM that stops answering (a hung or restarted swtpm, a reset chip) leaves a context that
  // can never work again, and a store write that failed (a full disk) leaves LevelDB's log in
  // doubt until it is reopened: either way the agent stops, and its service manager starts it again.
  const store = new LevelLedgerStore(path.join(options.state, LEDGER_DIR))
  const broken = new Promise<FleetError>((resolve) => {
    tpm.onLost = (err) => resolve(new TpmLostError(tpm.tcti, err))
    store.onWriteFailed = (err) => resolve(new LedgerStoreWriteFailedError(store.location, err))
  })
  // A slow disk holds every append up: said at most every few seconds, with how slow.
  let slowSaidAt = Number.NEGATIVE_INFINITY
  store.onSlowSync = (ms) => {
    const now = steadyClock.now()
    if (now - slowSaidAt < SLOW_SYNC_REPORT_MS) return
    slowSaidAt = now
    logger.warn(
      { ms: Math.round(ms) },
      `a synced write to the ledger store took ${Math.round(ms)} ms: the disk is slow, and every append waits for it`
    )
  }
  // A wall clock stepped (NTP, an operator, a resumed VM) is said: entries are stamped with it.
  let offset = Date.now() - steadyClock.now()
  setInterval(() => {
    const now = Date.now() - steadyClock.now()
    if (Math.abs(now - offset) < CLOCK_STEP_REPORT_MS) return
    const stepMs = Math.round(now - offset)
    offset = now
    logger.warn(
      { stepMs },
      `the wall clock stepped ${stepMs > 0 ? 'forward' : 'back'} by ${Math.abs(stepMs / 1000).toFixed(1)} s: entries are stamped with it, intervals keep to monotonic time`
    )
  }, CLOCK_WATCH_MS).unref()
  const logFile = options.eventlog ?? DEFAULT_EVENT_LOG
  let running: Awaited<ReturnType<typeof startDeviceAgent>>
  try {
    running = await startDeviceAgent(
      { tpm, logger, store },
      {
        dir: options.state,
        state,
        config,
        peers: options.peer,
        eventLog: async () => await readInputFile(logFile, 'event log', EVENTLOG_LIMITS.maxLogBytes)
      }
    )
  } catch (err) {
    if (err instanceof KeyReleaseRefusedError) await explainBoot(tpm, state, options)
    await tpm.close()
    // The TPM lost while starting, or a store that cannot be opened or written (a full disk):
    // the same as when running.
    const transient = await Promise.race([broken, Promise.resolve(undefined)])
    if (transient !== undefined) return exitForRestart(transient)
    if (ioFailure(err)) return exitForRestart(new LedgerStoreWriteFailedError(store.location, err))
    throw err
  }
  // Peers judge this device's boot by the log it sends with every quote: without it every
  // attestation of this device fails at the peer, so say so here, where it can be fixed.
  await readInputFile(logFile, 'event log', EVENTLOG_LIMITS.maxLogBytes).catch((err: Error) =>
    logger.warn(
      { eventLog: logFile, problem: err.message },
      `the boot event log cannot be read: peers will refuse this device's attestations until it can (${options.eventlog === undefined ? "the kernel's log is read by root only: give --eventlog FILE with a copy, as the packaged unit does" : 'check --eventlog'})`
    )
  )
  // Listening before the status line: whoever waits for it may stop the agent at once. A second
  // signal while stopping is ignored too (the stop is under way), not a kill.
  const signalled =
    options.once === true
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          process.on('SIGTERM', () => resolve())
          process.on('SIGINT', () => resolve())
        })
  const { status } = running
  logger.info(status, 'agent running: keys released after a verified boot and self-measurement')
  makeOutput(options.json === true).result(
    status,
    [
      `agent running as ${state.deviceId}${status.enrolled ? ` in fleet ${status.fleetId ?? ''}` : ' (not enrolled: run fleet join)'}`,
      `peerId ${status.peerId}`,
      `listening on ${status.addresses.join(' ')}`
    ].join('\n')
  )
  const error = await Promise.race([signalled.then(() => undefined), broken])
  if (error !== undefined) {
    // Stopping may wait on what the TPM or store was asked for; those calls now fail at once, but a stop
    // that still hangs must not keep a broken agent alive. Either way one line says why.
    setTimeout(() => {
      process.stderr.write(`fleet: ${error.message}\n`)
      process.exit(AGENT_EXIT_RESTART)
    }, BROKEN_STOP_MS).unref()
    await running.stop().catch(() => undefined)
    await tpm.close()
    return exitForRestart(error)
  }
  if (options.once !== true) logger.info('stopping')
  await running.stop()
  await tpm.close()
}

/** One line saying why, and AGENT_EXIT_RESTART for the service manager. */
function exitForRestart(error: Error): void {
  const code = (error as { code?: unknown }).code
  process.stderr.write(
    `fleet: ${error.message}${typeof code === 'string' && !error.message.includes(code) ? ` (${code})` : ''}\n`
  )
  process.exitCode = AGENT_EXIT_RESTART
}

/** Whether LevelDB failed on I/O (ENOSPC, EIO), here or in what it wraps. */
function ioFailure(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0;
    e !== undefined && depth < 4;
    depth++
  ) {
    if (e.code === 'LEVEL_IO_ERROR') return true
    e = e.cause as typeof e
  }
  return false
}

/** How long `fleet run` waits for a clean stop once its TPM or store broke, before it exits regardless. */
const BROKEN_STOP_MS = 10_000

/** When keys stay sealed: quote the boot now and judge it, so the operator sees which events differ. */
async function explainBoot(
  tpm: EsysTpm,
  state: Awaited<ReturnType<typeof readDeviceState>>,
  options: { eventlog?: string; policy?: string }
): Promise<void> {
  const logFile = options.eventlog ?? (existsSync(DEFAULT_EVENT_LOG) ? DEFAULT_EVENT_LOG : undefined)
  if (logFile === undefined || options.policy === undefined) return
  const policy = parseBootPolicy(await readInputFile(options.policy, 'boot policy', 1024 * 1024))
  const eventLog = await readInputFile(logFile, 'event log', EVENTLOG_LIMITS.maxLogBytes)
  const ak = {
    public: new Uint8Array(Buffer.from(state.attestationKey.public, 'base64')),
    private: new Uint8Array(Buffer.from(state.attestationKey.private, 'base64'))
  }
  const nonce = cryptoRandom.bytes(32)
  const quote = await tpm.quote(ak, nonce, [{ hash: policy.bank, pcrs: policy.pcrs.slice() }])
  const result = verifyBoot(
    { ak: parsePublic(ak.public), attest: quote.attest, signature: quote.signature, nonce, eventLog },
    policy
  )
  for (const reason of result.verdict.reasons) process.stderr.write(`boot: ${reason.message}\n`)
}
