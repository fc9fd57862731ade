import type { Command } from 'commander'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { EsysTpm, parseBootPolicy, bootPolicyId, EVENTLOG_LIMITS, type BootPolicy } from '../../attest/index.js'
import {
  readDeviceState, writeDeviceState, readDeviceEnrolment, agentMeasurement, installReleaseApproval, makeReleaseRequest, encodeReleaseRequest, parseReleaseRequest,
  verifyReleaseRequest, signReleaseApproval, encodeSignedApproval, parseSignedApproval, decodeReleaseApproval, ReleaseRequestRefusedError, RELEASE_LIMITS, ENROLMENT_FILE,
  type DeviceState
} from '../../agent/index.js'
import { UsageError, toHex } from '../../common/index.js'
import { publishOwnerStatement, statementOptions, notReached, type StatementOptions } from './enrol.js'
import { makeOutput } from '../output.js'
import { readInputFile } from '../options.js'

const DEFAULT_EVENT_LOG = '/sys/kernel/security/tpm0/binary_bios_measurements'

function measurementFor (state: DeviceState): ReturnType<typeof agentMeasurement> {
  const bootPcrs = state.sealing.selection.flatMap((bank) => bank.pcrs).filter((pcr) => pcr !== state.sealing.agentPcr)
  return agentMeasurement({ bootPcrs, agentPcr: state.sealing.agentPcr })
}

/**
 * fleet release request --state DIR [--tcti T] [--eventlog FILE] --out FILE [--json]
 * fleet release approve --state OWNERDIR --request FILE --out FILE [--policy FILE] [--agent HEX] [--peer MA]… [--json]
 * fleet release install --state DIR --approval FILE [--tcti T] [--json]
 */
export function registerReleaseCommands (program: Command): void {
  const release = program.command('release').description('owner-approved key release: the device\'s keys released under boot states the owner signed (TPM2_PolicyAuthorize)')
    .addHelpText('after', `
After a legitimate kernel, firmware or agent update the keys stay sealed until the owner approves the new state:
  device:  fleet release request --state DIR --out request.json
  owner:   fleet release approve --state OWNERDIR --request request.json --out approval.json
  device:  fleet release install --state DIR --approval approval.json
The first approval installed on a device moves its keys from its PCR values at fleet init to the owner.`)

  release.command('request')
    .description('device: quote this boot (sealing PCRs, event log, agent measurement) for the owner to approve')
    .requiredOption('--state <dir>', 'device state directory')
    .option('--tcti <tcti>', 'TPM to use (default: the one given to fleet init)')
    .option('--eventlog <file>', `boot event log (default ${DEFAULT_EVENT_LOG})`)
    .requiredOption('--out <file>', 'where to write the request (JSON)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { state: string, tcti?: string, eventlog?: string, out: string, json?: boolean }) => {
      const state = await readDeviceState(options.state)
      const eventLog = await readInputFile(options.eventlog ?? DEFAULT_EVENT_LOG, 'event log', EVENTLOG_LIMITS.maxLogBytes)
      const tpm = await EsysTpm.open({ tcti: options.tcti ?? state.tcti })
      try {
        const measurement = await measurementFor(state)
        const request = await makeReleaseRequest(tpm, state, measurement, eventLog, randomBytes)
        await writeFile(options.out, encodeReleaseRequest(request))
        makeOutput(options.json === true).result({ deviceId: state.deviceId, out: options.out, pcrs: request.pcrs, agentMeasurement: toHex(request.agentMeasurement) },
          `release request for ${state.deviceId} written to ${options.out} (PCRs ${request.pcrs.join(',')}; agent ${toHex(request.agentMeasurement).slice(0, 16)}…): hand it to the owner`)
      } finally {
        await tpm.close()
      }
    })

  statementOptions(release.command('approve')
    .description('owner: verify a device\'s request (its enrolled AK, the event log, the boot policy) and sign an approval of that boot state')
    .requiredOption('--state <dir>', 'owner state directory')
    .requiredOption('--request <file>', 'the device\'s request (fleet release request)')
    .requiredOption('--out <file>', 'where to write the approval (JSON)')
    .option('--policy <file>', 'judge the boot by this policy (default: the newest one published with fleet policy publish)')
    .option('--agent <hex>', 'approve only this agent measurement (64 hex digits)'))
    .addHelpText('after', '\nExit codes: 0 approved, 1 refused (the quote does not verify, or the policy does not allow the boot), 2 bad usage.')
    .action(async (options: StatementOptions & { request: string, out: string, policy?: string, agent?: string }) => {
      if (options.agent !== undefined && !/^[0-9a-f]{64}$/.test(options.agent)) throw new UsageError('--agent must be 64 hex digits (an agent measurement)')
      const request = parseReleaseRequest(await readInputFile(options.request, 'release request', RELEASE_LIMITS.maxRequestBytes))
      const given = options.policy === undefined ? undefined : parseBootPolicy(await readInputFile(options.policy, 'boot policy', 1024 * 1024))
      let approval: Uint8Array | undefined
      let file = ''
      const reached = await publishOwnerStatement(options, async (entries, actor, owner) => {
        const about = entries.filter((entry) => entry.body.deviceId === request.deviceId)
        const enrol = about.findLast((entry) => entry.type === 'device.enrol')
        if (enrol === undefined) throw new ReleaseRequestRefusedError(`device ${request.deviceId} was never enrolled in this fleet`)
        if (about.some((entry) => entry.type === 'device.revoke')) throw new ReleaseRequestRefusedError(`device ${request.deviceId} is revoked`)
        let policy: BootPolicy | undefined = given
        if (policy === undefined) {
          const published = entries.findLast((entry) => entry.type === 'policy.set')
          if (published === undefined) throw new UsageError('--policy is needed: this fleet has no published boot policy (fleet policy publish)')
          policy = parseBootPolicy(published.body.policy as Uint8Array)
        }
        const verified = verifyReleaseRequest(request, { deviceId: request.deviceId, akPub: enrol.body.akPub as Uint8Array }, policy,
          options.agent === undefined ? undefined : new Uint8Array(Buffer.from(options.agent, 'hex')))
        if (!verified.verdict.trusted) throw new ReleaseRequestRefusedError(`the boot policy does not allow this boot: ${verified.verdict.reasons.map((r) => r.message).join('; ')}`)
        const signed = await signReleaseApproval(owner.signer, { fleetId: owner.fleetId, deviceId: request.deviceId, verified, agentMeasurement: request.agentMeasurement, policyId: bootPolicyId(policy), now: new Date() })
        file = encodeSignedApproval(signed)
        const decoded = decodeReleaseApproval(signed.approval)
        approval = decoded.approvedPolicy
        // Recorded once per approved state; a repeated approval is handed out again, not re-recorded.
        if (about.some((entry) => entry.type === 'device.approve_release' && Buffer.compare(entry.body.approvedPolicy as Uint8Array, decoded.approvedPolicy) === 0)) return undefined
        return { type: 'device.approve_release', actor, attest: null, body: { deviceId: request.deviceId, approvedPolicy: decoded.approvedPolicy, agentMeasurement: request.agentMeasurement, pcrs: decoded.pcrs, policyId: decoded.policyId } }
      })
      await writeFile(options.out, file)
      makeOutput(options.json === true).result({ deviceId: request.deviceId, out: options.out, approvedPolicy: toHex(approval!), agentMeasurement: toHex(request.agentMeasurement), pcrs: request.pcrs, reached },
        `approved boot state ${toHex(approval!).slice(0, 16)}… of ${request.deviceId} (PCRs ${request.pcrs.join(',')}; agent ${toHex(request.agentMeasurement).slice(0, 16)}…)\n` +
        `approval written to ${options.out}: install it on the device with fleet release install; recorded in the owner's feed, handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`)
    })

  release.command('install')
    .description('device: check an owner-signed approval and keep it; the first one re-seals this device\'s keys to the owner')
    .requiredOption('--state <dir>', 'device state directory')
    .requiredOption('--approval <file>', 'the owner\'s approval (fleet release approve)')
    .option('--tcti <tcti>', 'TPM to use (default: the one given to fleet init)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExit codes: 0 installed, 1 refused (not the owner\'s, not this device\'s, or another boot state for the first approval), 2 bad usage.')
    .action(async (options: { state: string, approval: string, tcti?: string, json?: boolean }) => {
      const state = await readDeviceState(options.state)
      const enrolment = await readDeviceEnrolment(options.state, state.deviceId)
      if (enrolment === undefined) throw new UsageError(`${options.state} is not enrolled (no ${ENROLMENT_FILE}): approvals come from the fleet's owner`)
      const signed = parseSignedApproval(await readInputFile(options.approval, 'release approval', RELEASE_LIMITS.maxApprovalBytes * 2))
      const tpm = await EsysTpm.open({ tcti: options.tcti ?? state.tcti })
      try {
        const installed = await installReleaseApproval(tpm, state, enrolment, signed, await measurementFor(state))
        await writeDeviceState(options.state, installed.state)
        const approvals = installed.state.approvals?.length ?? 0
        makeOutput(options.json === true).result({ deviceId: state.deviceId, resealed: installed.resealed, approvals },
          installed.resealed
            ? `keys re-sealed to the fleet owner: they are released under boot states the owner approves (${approvals} approval kept)`
            : `approval kept (${approvals} in all): the keys are released under it from the next start`)
      } finally {
        await tpm.close()
      }
    })
}
