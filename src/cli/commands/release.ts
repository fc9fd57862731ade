import type { Command } from 'commander'
import { writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { type EsysTpm, parseBootPolicy, bootPolicyId, EVENTLOG_LIMITS, type BootPolicy } from '../../attest/index.js'
import {
  readDeviceState,
  writeDeviceState,
  readDeviceEnrolment,
  measurementOf,
  installReleaseApproval,
  lockSecrets,
  readOwnerCopy,
  removeOwnerCopy,
  OWNER_COPY_FILE,
  resealSecrets,
  settleSecretReseal,
  controlRequest,
  CONTROL_SOCKET,
  makeReleaseRequest,
  encodeReleaseRequest,
  parseReleaseRequest,
  verifyReleaseRequest,
  signReleaseApproval,
  encodeSignedApproval,
  parseSignedApproval,
  decodeReleaseApproval,
  approvalEpoch,
  parseAgentAllowlist,
  ReleaseRequestRefusedError,
  RELEASE_LIMITS,
  ENROLMENT_FILE,
  AGENT_ALLOWLIST_FILE
} from '../../agent/index.js'
import { FleetError, UsageError, toHex, cryptoRandom, systemClock } from '../../common/index.js'
import { publishOwnerStatement, statementOptions, notReached, type StatementOptions } from '../owner-statement.js'
import { makeOutput } from '../output.js'
import { DEFAULT_EVENT_LOG, readInputFile } from '../options.js'
import { openTpm } from '../tpm-session.js'

/**
 * fleet release request --state DIR [--tcti T] [--eventlog FILE] --out FILE [--json]
 * fleet release approve --state OWNERDIR --request FILE --out FILE [--policy FILE] [--agent-allowlist FILE | --agent HEX] [--withdraw-previous] [--peer MA]… [--json]
 * fleet release install --state DIR --approval FILE [--tcti T] [--json]
 */
export function registerReleaseCommands(program: Command): void {
  const release = program
    .command('release')
    .description(
      "owner-approved key release: the device's keys released under boot states the owner signed (TPM2_PolicyAuthorize)"
    )
    .addHelpText(
      'after',
      `
After a legitimate kernel, firmware or agent update the keys stay sealed until the owner approves the new state:
  device:  fleet release request --state DIR --out request.json
  owner:   fleet release approve --state OWNERDIR --request request.json --out approval.json
  device:  fleet release install --state DIR --approval approval.json
The first approval installed on a device moves its keys from its PCR values at fleet init to the owner,
also after an update that came before it (from the copy sealed to the owner that fleet join keeps, ${OWNER_COPY_FILE}).
The owner approves only agent builds on its allowlist (OWNERDIR/${AGENT_ALLOWLIST_FILE}: one measurement per line).
With --withdraw-previous, installing the approval withdraws every earlier one for good (the device's
approval-epoch counter in its TPM moves past them): booting an older approved state releases nothing.`
    )

  release
    .command('request')
    .description('device: quote this boot (sealing PCRs, event log, agent measurement) for the owner to approve')
    .requiredOption('--state <dir>', 'device state directory')
    .option('--tcti <tcti>', 'TPM to use (default: the one given to fleet init)')
    .option('--eventlog <file>', `boot event log (default ${DEFAULT_EVENT_LOG})`)
    .requiredOption('--out <file>', 'where to write the request (JSON)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet release request --state /var/lib/fleet-agent --out request.json   # after a kernel or agent update`
    )
    .action(async (options: { state: string; tcti?: string; eventlog?: string; out: string; json?: boolean }) => {
      const state = await readDeviceState(options.state)
      const eventLog = await readInputFile(
        options.eventlog ?? DEFAULT_EVENT_LOG,
        'event log',
        EVENTLOG_LIMITS.maxLogBytes
      )
      const tpm = await openTpm(options.tcti ?? state.tcti)
      try {
        const measurement = await measurementOf(state)
        const request = await makeReleaseRequest(tpm, state, measurement, eventLog, cryptoRandom.bytes)
        await writeFile(options.out, encodeReleaseRequest(request))
        makeOutput(options.json === true).result(
          {
            deviceId: state.deviceId,
            out: options.out,
            pcrs: request.pcrs,
            agentMeasurement: toHex(request.agentMeasurement),
            epoch: request.epoch.toString()
          },
          `release request for ${state.deviceId} written to ${options.out} (PCRs ${request.pcrs.join(',')}; agent ${toHex(request.agentMeasurement).slice(0, 16)}…): hand it to the owner`
        )
      } finally {
        await tpm.close()
      }
    })

  statementOptions(
    release
      .command('approve')
      .description(
        "owner: verify a device's request (its enrolled AK, the event log, the boot policy) and sign an approval of that boot state"
      )
      .requiredOption('--state <dir>', 'owner state directory')
      .requiredOption('--request <file>', "the device's request (fleet release request)")
      .requiredOption('--out <file>', 'where to write the approval (JSON)')
      .option(
        '--policy <file>',
        'judge the boot by this policy (default: the newest one published with fleet policy publish)'
      )
      .option(
        '--agent-allowlist <file>',
        `agent measurements the owner allows, one per line (default: ${AGENT_ALLOWLIST_FILE} in the owner state directory)`
      )
      .option('--agent <hex>', 'allow only this agent measurement (64 hex digits), instead of the allowlist')
      .option(
        '--withdraw-previous',
        "approve at the device's next approval epoch: installing it withdraws every earlier approval"
      )
  )
    .addHelpText(
      'after',
      '\nExample:\n  fleet release approve --state ~/.fleet-owner --request request.json --out approval.json\nExit codes: 0 approved, 1 refused (the quote does not verify, the policy does not allow the boot, or the agent measured is not on the allowlist), 2 bad usage (no allowlist).'
    )
    .action(
      async (
        options: StatementOptions & {
          request: string
          out: string
          policy?: string
          agent?: string
          agentAllowlist?: string
          withdrawPrevious?: boolean
        }
      ) => {
        if (options.agent !== undefined && !/^[0-9a-f]{64}$/.test(options.agent))
          throw new UsageError('--agent must be 64 hex digits (an agent measurement)')
        if (options.agent !== undefined && options.agentAllowlist !== undefined)
          throw new UsageError('give --agent or --agent-allowlist, not both')
        const allowlistFile = options.agentAllowlist ?? path.join(options.state, AGENT_ALLOWLIST_FILE)
        if (options.agent === undefined && options.agentAllowlist === undefined && !existsSync(allowlistFile)) {
          throw new UsageError(
            `no agent allowlist: write the agent measurements this fleet runs to ${allowlistFile} (one per line), or give --agent-allowlist FILE or --agent HEX`
          )
        }
        const allowedAgents =
          options.agent !== undefined
            ? [new Uint8Array(Buffer.from(options.agent, 'hex'))]
            : parseAgentAllowlist(
                await readInputFile(allowlistFile, 'agent allowlist', RELEASE_LIMITS.maxAllowedAgents * 80)
              )
        const request = parseReleaseRequest(
          await readInputFile(options.request, 'release request', RELEASE_LIMITS.maxRequestBytes)
        )
        const given =
          options.policy === undefined
            ? undefined
            : parseBootPolicy(await readInputFile(options.policy, 'boot policy', 1024 * 1024))
        let approval: Uint8Array | undefined
        let epoch = 0n
        let file = ''
        const reached = await publishOwnerStatement(options, async (entries, actor, owner) => {
          const about = entries.filter((entry) => entry.body.deviceId === request.deviceId)
          const enrol = about.findLast((entry) => entry.type === 'device.enrol')
          if (enrol === undefined)
            throw new ReleaseRequestRefusedError(`device ${request.deviceId} was never enrolled in this fleet`)
          if (about.some((entry) => entry.type === 'device.revoke'))
            throw new ReleaseRequestRefusedError(`device ${request.deviceId} is revoked`)
          let policy: BootPolicy | undefined = given
          if (policy === undefined) {
            const published = entries.findLast((entry) => entry.type === 'policy.set')
            if (published === undefined)
              throw new UsageError('--policy is needed: this fleet has no published boot policy (fleet policy publish)')
            policy = parseBootPolicy(published.body.policy as Uint8Array)
          }
          // A request reporting an epoch below one this owner approved is stale or replayed: approving
          // it (above all with --withdraw-previous) could bring a withdrawn boot state back.
          const approvedEpochs = about
            .filter((entry) => entry.type === 'device.approve_release' && entry.body.epoch instanceof Uint8Array)
            .map((entry) => Buffer.from(entry.body.epoch as Uint8Array).readBigUInt64BE(0))
          // biome-ignore lint/complexity/useMathMinMax: bigints (Math.max takes numbers only)
          const highest = approvedEpochs.reduce((a, b) => (a > b ? a : b), -1n)
          if (request.epoch < highest)
            throw new ReleaseRequestRefusedError(
              `it reports approval epoch ${request.epoch}, below epoch ${highest} this owner already approved for the device: a replayed or stale request (ask the device for a new one)`
            )
          const verified = verifyReleaseRequest(
            request,
            { deviceId: request.deviceId, akPub: enrol.body.akPub as Uint8Array },
            policy,
            allowedAgents
          )
          if (!verified.verdict.trusted)
            throw new ReleaseRequestRefusedError(
              `the boot policy does not allow this boot: ${verified.verdict.reasons.map((r) => r.message).join('; ')}`
            )
          const signed = await signReleaseApproval(owner.signer, {
            fleetId: owner.fleetId,
            deviceId: request.deviceId,
            verified,
            agentMeasurement: request.agentMeasurement,
            policyId: bootPolicyId(policy),
            now: new Date(systemClock.now()),
            withdrawPrevious: options.withdrawPrevious === true
          })
          file = encodeSignedApproval(signed)
          const decoded = decodeReleaseApproval(signed.approval)
          approval = decoded.approvedPolicy
          epoch = approvalEpoch(decoded)!.epoch
          // Recorded once per approved state; a repeated approval is handed out again, not re-recorded.
          if (
            about.some(
              (entry) =>
                entry.type === 'device.approve_release' &&
                Buffer.compare(entry.body.approvedPolicy as Uint8Array, decoded.approvedPolicy) === 0
            )
          )
            return undefined
          return {
            type: 'device.approve_release',
            actor,
            attest: null,
            body: {
              deviceId: request.deviceId,
              approvedPolicy: decoded.approvedPolicy,
              agentMeasurement: request.agentMeasurement,
              pcrs: decoded.pcrs,
              policyId: decoded.policyId,
              epoch: decoded.epoch!
            }
          }
        })
        await writeFile(options.out, file)
        const withdraws = epoch > request.epoch
        makeOutput(options.json === true).result(
          {
            deviceId: request.deviceId,
            out: options.out,
            approvedPolicy: toHex(approval!),
            agentMeasurement: toHex(request.agentMeasurement),
            pcrs: request.pcrs,
            epoch: epoch.toString(),
            withdrawsPrevious: withdraws,
            reached
          },
          `approved boot state ${toHex(approval!).slice(0, 16)}… of ${request.deviceId} ` +
            `(PCRs ${request.pcrs.join(',')}; agent ${toHex(request.agentMeasurement).slice(0, 16)}…; ` +
            `approval epoch ${epoch}${withdraws ? ', withdrawing every earlier approval once installed' : ''})\n` +
            `approval written to ${options.out}: install it on the device with fleet release install; ` +
            `recorded in the owner's feed, handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
        )
      }
    )

  release
    .command('install')
    .description(
      "device: check an owner-signed approval and keep it; the first one re-seals this device's keys to the owner"
    )
    .requiredOption('--state <dir>', 'device state directory')
    .requiredOption('--approval <file>', "the owner's approval (fleet release approve)")
    .option('--tcti <tcti>', 'TPM to use (default: the one given to fleet init)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      "\nExample:\n  fleet release install --state /var/lib/fleet-agent --approval approval.json\nRun it with the agent stopped (it refuses while the agent or a fleet secret command holds the secrets): the first approval re-seals the keys and the workload secrets\n(staged, then the state written, then swapped in: an interrupted one is finished or undone the next time the secrets are used).\nExit codes: 0 installed, 1 refused (the agent running, not the owner's, not this device's, withdrawn, or another boot state for the first approval or one that withdraws earlier ones), 2 bad usage."
    )
    .action(async (options: { state: string; approval: string; tcti?: string; json?: boolean }) => {
      const state = await readDeviceState(options.state)
      const enrolment = await readDeviceEnrolment(options.state, state.deviceId)
      if (enrolment === undefined)
        throw new UsageError(
          `${options.state} is not enrolled (no ${ENROLMENT_FILE}): approvals come from the fleet's owner`
        )
      const signed = parseSignedApproval(
        await readInputFile(options.approval, 'release approval', RELEASE_LIMITS.maxApprovalBytes * 2)
      )
      // A running agent keeps the state it started with (and seals workload secrets under it):
      // the keys and secrets move only while it is stopped.
      if (
        existsSync(path.join(options.state, CONTROL_SOCKET)) &&
        (await controlRequest(options.state, { cmd: 'status' }, 5_000).then(
          () => true,
          () => false
        ))
      )
        throw new FleetError(
          `the agent of ${options.state} is running: stop it, install the approval, start it again`,
          {
            code: 'ERR_AGENT_RUNNING'
          }
        )
      // From here to the end of the swap nobody else touches the secrets: an agent started since the
      // check above, or a fleet secret command, holds their lock and refuses this (and the other way round).
      const lock = await lockSecrets(options.state, 'exclusive')
      let tpm: EsysTpm | undefined
      try {
        // What an earlier install left interrupted is settled under the state on disk first.
        await settleSecretReseal(options.state, state)
        tpm = await openTpm(options.tcti ?? state.tcti)
        // A device still sealed to its PCR values at fleet init may have an owner copy of its keys
        // (made when it was enrolled): the first approval is installed from it in another boot state.
        // Read only when it is needed: a damaged copy does not stand in the way of an install in that boot.
        const installed = await installReleaseApproval(
          tpm,
          state,
          { key: enrolment.ownerKey, fleetId: enrolment.fleetId },
          signed,
          await measurementOf(state),
          { ownerCopy: async () => await readOwnerCopy(options.state, state) }
        )
        const commit = async (): Promise<void> => await writeDeviceState(options.state, installed.state)
        // The workload secrets follow the keys to the owner's policy (sealed alike with them):
        // staged before the new state is written, swapped in after, so no crash strands them.
        const secrets = installed.resealed
          ? await resealSecrets(tpm, state, installed.state, options.state, {
              now: new Date(),
              commit,
              ownerRelease: installed.ownerRelease
            })
          : await commit().then(() => [])
        // The keys are sealed to the owner now: the copy has nothing left to do.
        if (installed.state.version !== 1) await removeOwnerCopy(options.state)
        const approvals = installed.state.approvals?.length ?? 0
        makeOutput(options.json === true).result(
          {
            deviceId: state.deviceId,
            resealed: installed.resealed,
            fromOwnerCopy: installed.ownerRelease !== undefined,
            withdrawn: installed.withdrawn,
            approvals,
            secretsResealed: secrets
          },
          (installed.resealed
            ? `keys re-sealed to the fleet owner: they are released under boot states the owner approves (${approvals} approval kept)`
            : `approval kept (${approvals} in all): the keys are released under it from the next start`) +
            (secrets.length > 0 ? `; ${secrets.length} workload secret(s) re-sealed alike` : '') +
            (installed.withdrawn ? '; every earlier approval is withdrawn for good' : '')
        )
      } finally {
        await tpm?.close()
        await lock.release()
      }
    })
}
