/**
 * A device on swtpm as `fleet init` makes it, and its owner's approval of the boot it runs, made
 * in-process (no quote is checked: the owner's side is tested in test/agent/release and test/cli).
 */
import { createHash, randomBytes } from 'node:crypto'
import type { AgentMeasurement, Tpm } from '../../src/attest/index.js'
import { initDevice } from '../../src/agent/device/identity.js'
import type { DeviceState } from '../../src/agent/device/state.js'
import { approvalEpochIndex, signReleaseApproval } from '../../src/agent/release/approval.js'
import type { HybridSigner } from '../../src/identity/index.js'

/** The agent build the test devices measure into PCR 23. */
export const AGENT_DIGEST = createHash('sha256').update('agent build').digest()
export const AGENT_MEASUREMENT = {
  digest: AGENT_DIGEST,
  bundleDigest: AGENT_DIGEST,
  configDigest: AGENT_DIGEST,
  files: 1
} as AgentMeasurement

/** A fresh identity in `tpm`, its keys sealed to PCRs 0 and 7 and the agent's PCR 23. */
export async function initTestDevice(tpm: Tpm, tcti: string): Promise<DeviceState> {
  return await initDevice(tpm, {
    tcti,
    bootPcrs: [0, 7],
    agentPcr: 23,
    measurement: AGENT_MEASUREMENT,
    random: randomBytes,
    now: () => new Date(0)
  })
}

/** `owner`'s approval of the boot `tpm` runs now for device `state`, at the device's current approval epoch. */
export async function approveCurrentBoot(
  tpm: Tpm,
  owner: HybridSigner,
  fleetId: Uint8Array,
  state: DeviceState
): Promise<Awaited<ReturnType<typeof signReleaseApproval>>> {
  const selection = state.sealing.selection
  const verified = {
    selection,
    values: await tpm.readPcrs(selection),
    verdict: { trusted: true, reasons: [] },
    epoch: await tpm.readCounter(approvalEpochIndex(state.deviceId))
  } as unknown as Parameters<typeof signReleaseApproval>[1]['verified']
  return await signReleaseApproval(owner, {
    fleetId,
    deviceId: state.deviceId,
    verified,
    agentMeasurement: AGENT_DIGEST,
    policyId: 'c'.repeat(64),
    now: new Date(0)
  })
}
