import type { Command } from 'commander'
import { existsSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { parseBootPolicy, loadTrustStore } from '../../attest/index.js'
import { enrolPeer, openOwnFeed, ownerFeedId, enrolmentEntry } from '../../agent/index.js'
import { createFleetNode, readNetworkKey } from '../../p2p/index.js'
import { FleetError, UsageError, cryptoRandom, systemClock } from '../../common/index.js'
import { makeOutput, makeWaiting } from '../output.js'
import { readInputFile } from '../options.js'
import { askYesNo, parseSeconds } from '../confirm.js'
import { openOwner, pinOptions, type PinOptions } from '../owner-access.js'
import { appendTpmTier } from '../tpm-tier-statement.js'
import { JOIN_SERVICE_TAG } from './join.js'
import { discover, parsePeer } from '../peers.js'

/**
 * fleet enrol --state OWNERDIR --policy FILE --trust-store DIR [--software-tpm-ca DIR] [--allow-software-tpm] [--peer MA] [--yes --expect DEVICEID] [--timeout S] [--pin-fd N | --pin-credential NAME] [--json]
 */
export function registerEnrolCommand(program: Command): void {
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
    .option('--network-key <file>', "the fleet's private network key, when it has one (PSK v1 file, 0600)")
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
          networkKey?: string
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
        const networkKey = options.networkKey === undefined ? undefined : await readNetworkKey(options.networkKey)
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
            networkKey,
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
