import { createHash } from 'node:crypto'
import path from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { FleetError, projectRoot, toBase64, fromBase64 } from '../../common/index.js'
import {
  deviceIdFromEndorsementKey,
  tpmP256Signer,
  extendAgentMeasurement,
  measureAgent,
  nativeBindingFile,
  sealToPcrs,
  releaseSecret,
  parsePublic,
  verifyCertify,
  sealedFromJson,
  sealedToJson,
  type AgentMeasurement,
  type PcrSelection,
  type Tpm,
  type TpmCallOptions
} from '../../attest/index.js'
import { defaultMlDsa65, HybridSigner, type MlDsaKey } from '../../identity/index.js'
import type { DeviceState } from './state.js'
import { approvalForNow } from './key-release.js'

/** Thrown when a state directory belongs to another TPM: it was copied. A clone gets nothing. */
export class CloneDetectedError extends FleetError {
  readonly stateDeviceId: string
  readonly tpmDeviceId: string
  constructor(stateDeviceId: string, tpmDeviceId: string) {
    super(
      `this state directory belongs to device ${stateDeviceId}, but this TPM is device ${tpmDeviceId}: ` +
        'it was copied from another machine, and nothing in it can be used here (run fleet init with a new state directory for a fresh, unenrolled identity)',
      { code: 'ERR_CLONE_DETECTED' }
    )
    this.stateDeviceId = stateDeviceId
    this.tpmDeviceId = tpmDeviceId
  }
}

const ROOT = projectRoot(import.meta.url)

/**
 * What the agent measures into its PCR: its compiled code (with the bundle bin/fleet runs, which
 * holds its JavaScript libraries too) and native binding, and the security-relevant
 * configuration (which PCRs seal its keys). Changing any of it changes the
 * measurement, and sealed keys stay sealed.
 */
export async function agentMeasurement(sealing: { bootPcrs: number[]; agentPcr: number }): Promise<AgentMeasurement> {
  const config = Buffer.from(
    JSON.stringify({ bootPcrs: [...sealing.bootPcrs].sort((a, b) => a - b), agentPcr: sealing.agentPcr })
  )
  return await measureAgent([path.join(ROOT, 'dist/src'), nativeBindingFile()], config)
}

/** The agent's measurement for this device: its keys are sealed to the state's PCRs, the agent's own apart. */
export async function measurementOf(state: DeviceState): Promise<AgentMeasurement> {
  const { selection, agentPcr } = state.sealing
  const bootPcrs = (selection as PcrSelection).flatMap((bank) => bank.pcrs).filter((pcr) => pcr !== agentPcr)
  return await agentMeasurement({ bootPcrs, agentPcr })
}

export interface InitDeviceOptions extends TpmCallOptions {
  tcti: string
  bootPcrs: number[]
  agentPcr: number
  measurement: AgentMeasurement
  random: (n: number) => Uint8Array
  now: () => Date
}

/**
 * Creates the device identity in its TPM: AK, DSK certified by the AK, and an ML-DSA-65 seed and
 * a libp2p Ed25519 seed sealed to the boot PCRs and the agent's own measurement.
 */
export async function initDevice(tpm: Tpm, options: InitDeviceOptions): Promise<DeviceState> {
  const signal = { signal: options.signal }
  await extendAgentMeasurement(tpm, options.measurement, options.agentPcr, signal)
  const ek = await tpm.endorsementKey('rsa', signal)
  const deviceId = deviceIdFromEndorsementKey(ek.public)
  const ak = await tpm.createKey('attestation', signal)
  const dsk = await tpm.createKey('signing', signal)
  const certifyNonce = createHash('sha256').update('fleet-dsk-certify-v1').update(dsk.public).digest()
  const certified = await tpm.certify(dsk, ak, certifyNonce, signal)
  verifyCertify({
    signer: parsePublic(ak.public),
    attest: certified.attest,
    signature: certified.signature,
    nonce: certifyNonce,
    certifiedPublic: dsk.public
  })
  const selection: PcrSelection = [
    { hash: 'sha256', pcrs: [...new Set([...options.bootPcrs, options.agentPcr])].sort((a, b) => a - b) }
  ]
  const values = await tpm.readPcrs(selection, signal)
  // Seeds mix the TPM's RNG with the host's, so neither alone decides them.
  const seed = async (): Promise<Uint8Array> => {
    const fromTpm = await tpm.getRandom(32, signal)
    return new Uint8Array(createHash('sha256').update(fromTpm).update(options.random(32)).digest())
  }
  const mldsaSeed = await seed()
  const peerSeed = await seed()
  const mldsaPublic = defaultMlDsa65().fromSeed(mldsaSeed).publicKey
  const peerId = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', peerSeed)).toString()
  const mldsaSealed = await sealToPcrs(tpm, mldsaSeed, selection, values, signal)
  const peerSealed = await sealToPcrs(tpm, peerSeed, selection, values, signal)
  mldsaSeed.fill(0)
  peerSeed.fill(0)
  return {
    version: 1,
    deviceId,
    tcti: tpm.tcti,
    endorsementKey: {
      kind: 'rsa',
      public: toBase64(ek.public),
      certificate: ek.certificate === undefined ? undefined : toBase64(ek.certificate)
    },
    attestationKey: { public: toBase64(ak.public), private: toBase64(ak.private) },
    signingKey: {
      public: toBase64(dsk.public),
      private: toBase64(dsk.private),
      certify: {
        attest: toBase64(certified.attest),
        signature: toBase64(certified.signature),
        nonce: toBase64(certifyNonce)
      }
    },
    mldsa: { publicKey: toBase64(mldsaPublic), sealed: sealedToJson(mldsaSealed) },
    peer: { peerId, sealed: sealedToJson(peerSealed) },
    sealing: { selection, agentPcr: options.agentPcr },
    createdAt: options.now().toISOString()
  }
}

export interface UnlockedDevice {
  state: DeviceState
  mldsa: MlDsaKey
  peerKey: PrivateKey
}

/**
 * The agent's start: the TPM must be the one the state belongs to (else CloneDetectedError), the
 * agent measures itself (AgentMeasurementMismatchError if another agent was measured this boot),
 * and its keys are released only if the boot and the agent match what they were sealed to
 * (KeyReleaseRefusedError naming the PCRs that differ).
 */
export async function unlockDevice(
  tpm: Tpm,
  state: DeviceState,
  measurement: AgentMeasurement,
  options: TpmCallOptions = {}
): Promise<UnlockedDevice> {
  const ek = await tpm.endorsementKey('rsa', options)
  const here = deviceIdFromEndorsementKey(ek.public)
  if (here !== state.deviceId) throw new CloneDetectedError(state.deviceId, here)
  await extendAgentMeasurement(tpm, measurement, state.sealing.agentPcr, options)
  const approval = state.version === 1 ? undefined : await approvalForNow(tpm, state, options)
  const mldsaSeed = await releaseSecret(tpm, sealedFromJson(state.mldsa.sealed), approval, options)
  const peerSeed = await releaseSecret(tpm, sealedFromJson(state.peer.sealed), approval, options)
  const mldsa = defaultMlDsa65().fromSeed(mldsaSeed)
  const peerKey = await generateKeyPairFromSeed('Ed25519', peerSeed)
  mldsaSeed.fill(0)
  peerSeed.fill(0)
  if (
    Buffer.compare(Buffer.from(mldsa.publicKey), Buffer.from(fromBase64(state.mldsa.publicKey))) !== 0 ||
    peerIdFromPrivateKey(peerKey).toString() !== state.peer.peerId
  ) {
    throw new FleetError('the unsealed keys do not match the state file (it was altered)', {
      code: 'ERR_DEVICE_STATE_MISMATCH'
    })
  }
  return { state, mldsa, peerKey }
}

/** The device's hybrid signer: the TPM-held DSK and the unsealed ML-DSA-65 key. */
export function deviceSigner(tpm: Tpm, device: UnlockedDevice): HybridSigner {
  const dsk = {
    public: fromBase64(device.state.signingKey.public),
    private: fromBase64(device.state.signingKey.private)
  }
  return new HybridSigner(tpmP256Signer(tpm, dsk), device.mldsa)
}
