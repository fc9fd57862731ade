/**
 * The agent: device identity and start-up (self-measurement, clone refusal, key release),
 * configuration and logging. The long-running services compose on top of these.
 */
export { initDevice, unlockDevice, agentMeasurement, CloneDetectedError } from './device/identity.js'
export type { InitDeviceOptions, UnlockedDevice } from './device/identity.js'
export { readDeviceState, writeDeviceState, DeviceStateError, DEVICE_STATE_FILE } from './device/state.js'
export type { DeviceState } from './device/state.js'
export { loadConfig, ConfigError, CONFIG_DEFAULTS } from './ops/config.js'
export type { AgentConfig } from './ops/config.js'
export { createLogger, silentLogger } from './ops/logger.js'
export type { Logger } from './ops/logger.js'
export { initOwner, unlockOwner, verifyGenesis, readOwnerState, writeOwnerState, fleetIdOf, GenesisError, OWNER_STATE_FILE } from './owner/genesis.js'
export type { OwnerState, GenesisStatement } from './owner/genesis.js'
export { deviceSigner, installReleaseApproval } from './device/identity.js'
export {
  makeReleaseRequest, encodeReleaseRequest, parseReleaseRequest, verifyReleaseRequest, signReleaseApproval, encodeSignedApproval, parseSignedApproval,
  decodeReleaseApproval, approvalEpoch, approvalEpochIndex, parseAgentAllowlist, ReleaseRequestRefusedError, ReleaseApprovalError, RELEASE_LIMITS, AGENT_ALLOWLIST_FILE
} from './release/approval.js'
export type { ReleaseRequest, ReleaseApproval, SignedReleaseApproval } from './release/approval.js'
export {
  DEVICE_ROLES, ENROLMENT_FILE, EnrolmentRecordError, encodeEnrolmentRecord, signEnrolmentRecord, verifyEnrolmentRecord, verifyDeviceEnrolment,
  readDeviceEnrolment, writeDeviceEnrolment, ownerFeedId, ekPubHash, enrolmentEntry, encodeSignedEnrolment, decodeSignedEnrolment
} from './enrolment/record.js'
export type { DeviceRole, EnrolmentRecord, SignedEnrolment, DeviceEnrolment } from './enrolment/record.js'
export { ENROL_PROTOCOL, ENROL_LIMITS, EnrolmentRefusedError, CeremonyAbortedError, runDeviceCeremony, runOwnerCeremony, enrolmentQuoteData } from './enrolment/ceremony.js'
export type { DeviceCeremonyInput, OwnerCeremonyInput, EnrolledDevice } from './enrolment/ceremony.js'
export { acceptEnrolment, enrolPeer } from './enrolment/handler.js'
export { openOwnFeed, rollbackCounterIndex, LEDGER_DIR } from './feeds/own-feed.js'
export type { OpenedLedger } from './feeds/own-feed.js'
export { feedIdentityOf, feedIdentityFromTrust, knownFeedKeys, storedOntology, storedWitnessRecords, witnessKeysFromHeader, storedOntologyProofs, ontologyFromHeader, storedEpochs, storedEpochProofs, epochsFromHeader, FeedTrustError } from './feeds/feed-identity.js'
export type { FeedIdentity, FeedTrust } from './feeds/feed-identity.js'
export { ATTEST_PROTOCOL, ATTEST_LIMITS, attestationQuoteData, judgeAttestation, attestAsDialer, attestAsListener, AttestationProtocolError } from './attestation/protocol.js'
export type { AttestationEvidence, AttestationOutcome, Judge, AttesterInput } from './attestation/protocol.js'
export { AttestationService } from './attestation/service.js'
export type { PeerStatus, AttestationServiceInit } from './attestation/service.js'
export { Membership } from './membership/members.js'
export { witnessSet, DEFAULT_WITNESSES_PER_FEED } from './membership/witnessing.js'
export type { Member } from './membership/members.js'
export { LEDGER_SYNC_PROTOCOL, SYNC_PROTOCOL_LIMITS, SyncProtocolError, readOpening, servePull, pull, sendAnnounce } from './replication/messages.js'
export { AgentRuntime, fleetServiceTag } from './agent.js'
export type { AgentRuntimeInit, RuntimeHooks } from './agent.js'
export { publishOwnerFeed } from './replication/owner-publish.js'
export { startControlServer, controlRequest, agentStatus, residentMemory, procStatusMemory, bodyFromJson, ControlError, CONTROL_SOCKET, type ResidentMemory } from './control.js'
