/**
 * The agent: device identity and start-up (self-measurement, clone refusal, key release),
 * configuration and logging. The long-running services compose on top of these.
 */
export { initDevice, unlockDevice, agentMeasurement, CloneDetectedError } from './device.js'
export type { InitDeviceOptions, UnlockedDevice } from './device.js'
export { readDeviceState, writeDeviceState, DeviceStateError, DEVICE_STATE_FILE } from './device-state.js'
export type { DeviceState } from './device-state.js'
export { loadConfig, ConfigError, CONFIG_DEFAULTS } from './config.js'
export type { AgentConfig } from './config.js'
export { createLogger, silentLogger } from './logger.js'
export type { Logger } from './logger.js'
export { initOwner, unlockOwner, verifyGenesis, readOwnerState, writeOwnerState, fleetIdOf, GenesisError, OWNER_STATE_FILE } from './owner.js'
export type { OwnerState, GenesisStatement } from './owner.js'
export { deviceSigner, installReleaseApproval } from './device.js'
export {
  makeReleaseRequest, encodeReleaseRequest, parseReleaseRequest, verifyReleaseRequest, signReleaseApproval, encodeSignedApproval, parseSignedApproval,
  decodeReleaseApproval, approvalEpoch, approvalEpochIndex, parseAgentAllowlist, ReleaseRequestRefusedError, ReleaseApprovalError, RELEASE_LIMITS, AGENT_ALLOWLIST_FILE
} from './release-approval.js'
export type { ReleaseRequest, ReleaseApproval, SignedReleaseApproval } from './release-approval.js'
export {
  DEVICE_ROLES, ENROLMENT_FILE, EnrolmentRecordError, encodeEnrolmentRecord, signEnrolmentRecord, verifyEnrolmentRecord, verifyDeviceEnrolment,
  readDeviceEnrolment, writeDeviceEnrolment, ownerFeedId, ekPubHash, enrolmentEntry, encodeSignedEnrolment, decodeSignedEnrolment
} from './enrolment.js'
export type { DeviceRole, EnrolmentRecord, SignedEnrolment, DeviceEnrolment } from './enrolment.js'
export { ENROL_PROTOCOL, ENROL_LIMITS, EnrolmentRefusedError, CeremonyAbortedError, runDeviceCeremony, runOwnerCeremony, enrolmentQuoteData } from './enrol-protocol.js'
export type { DeviceCeremonyInput, OwnerCeremonyInput, EnrolledDevice } from './enrol-protocol.js'
export { acceptEnrolment, enrolPeer } from './enrol.js'
export { openOwnFeed, rollbackCounterIndex, LEDGER_DIR } from './ledgers.js'
export type { OpenedLedger } from './ledgers.js'
export { feedIdentityOf, feedIdentityFromTrust, knownFeedKeys, storedOntology, storedWitnessRecords, witnessKeysFromHeader, storedOntologyProofs, ontologyFromHeader, storedEpochs, storedEpochProofs, epochsFromHeader, FeedTrustError } from './feed-identity.js'
export type { FeedIdentity, FeedTrust } from './feed-identity.js'
export { ATTEST_PROTOCOL, ATTEST_LIMITS, attestationQuoteData, judgeAttestation, attestAsDialer, attestAsListener, AttestationProtocolError } from './attest-protocol.js'
export type { AttestationEvidence, AttestationOutcome, Judge, AttesterInput } from './attest-protocol.js'
export { AttestationService } from './attest-service.js'
export type { PeerStatus, AttestationServiceInit } from './attest-service.js'
export { Membership } from './membership.js'
export { witnessSet, DEFAULT_WITNESSES_PER_FEED } from './witnessing.js'
export type { Member } from './membership.js'
export { LEDGER_SYNC_PROTOCOL, SYNC_PROTOCOL_LIMITS, SyncProtocolError, readOpening, servePull, pull, sendAnnounce } from './sync-protocol.js'
export { AgentRuntime, fleetServiceTag } from './runtime.js'
export type { AgentRuntimeInit, RuntimeHooks } from './runtime.js'
export { publishOwnerFeed } from './owner-publish.js'
export { startMemoryTrim, MEMORY_TRIM } from './memory-trim.js'
export { startControlServer, controlRequest, agentStatus, residentMemory, procStatusMemory, bodyFromJson, ControlError, CONTROL_SOCKET, type ResidentMemory } from './control.js'
