/** The device's side of the enrolment ceremony: `fleet join`. */
import type { Command } from 'commander'
import os from 'node:os'
import { fingerprint, EVENTLOG_LIMITS } from '../../attest/index.js'
import {
  readDeviceState,
  unlockDevice,
  measurementOf,
  acceptEnrolment,
  writeDeviceEnrolment,
  keepOwnerCopies,
  readDeviceEnrolment,
  DEVICE_ROLES,
  ENROLMENT_FILE,
  HOSTNAME_PATTERN,
  type DeviceRole
} from '../../agent/index.js'
import { createFleetNode, readNetworkKey } from '../../p2p/index.js'
import { FleetError, UsageError, cryptoRandom } from '../../common/index.js'
import { makeOutput, makeWaiting } from '../output.js'
import { DEFAULT_EVENT_LOG, readInputFile } from '../options.js'
import { askYesNo, parseSeconds } from '../confirm.js'
import { openTpm } from '../tpm-session.js'

/** mDNS service of devices waiting to be enrolled (enrolled agents use the fleet's own tag). */
export const JOIN_SERVICE_TAG = '_fleet-join._udp.local'

/**
 * fleet join --state DIR [--tcti T] [--eventlog FILE] [--role server] [--hostname H] [--listen MA] [--yes --expect-fleet ID] [--timeout S] [--json]
 */
export function registerJoinCommand(program: Command): void {
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
    .option('--network-key <file>', "the fleet's private network key, when it has one (PSK v1 file, 0600)")
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
        networkKey?: string
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
        const networkKey = options.networkKey === undefined ? undefined : await readNetworkKey(options.networkKey)
        const out = makeOutput(options.json === true)
        const state = await readDeviceState(options.state)
        if ((await readDeviceEnrolment(options.state, state.deviceId)) !== undefined)
          throw new UsageError(`${options.state} is already enrolled (${ENROLMENT_FILE}); a device is enrolled once`)
        const logFile = options.eventlog ?? DEFAULT_EVENT_LOG
        const eventLog = await readInputFile(logFile, 'event log', EVENTLOG_LIMITS.maxLogBytes)
        const tpm = await openTpm(options.tcti ?? state.tcti)
        try {
          const device = await unlockDevice(tpm, state, await measurementOf(state))
          const node = await createFleetNode({
            privateKey: device.peerKey,
            admission: { allows: () => true },
            listen: [options.listen],
            networkKey,
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
}
