/**
 * Enrolment: the owner-signed record that makes a device a member, and the ceremony (over
 * libp2p, with a quote and a comparison of digits by a person) that produces it.
 */
export {
  CeremonyAbortedError,
  ENROL_LIMITS,
  ENROL_PROTOCOL,
  EnrolmentRefusedError,
  HOSTNAME_PATTERN,
  enrolmentQuoteData
} from './ceremony.js'
export { runDeviceCeremony, type DeviceCeremonyInput } from './device-ceremony.js'
export { runOwnerCeremony, type EnrolledDevice, type OwnerCeremonyInput } from './owner-ceremony.js'
export { acceptEnrolment, enrolPeer } from './handler.js'
export {
  DEVICE_ROLES,
  ENROLMENT_FILE,
  EnrolmentRecordError,
  decodeSignedEnrolment,
  ekPubHash,
  encodeEnrolmentRecord,
  encodeSignedEnrolment,
  enrolmentEntry,
  ownerFeedId,
  readDeviceEnrolment,
  signEnrolmentRecord,
  verifyDeviceEnrolment,
  verifyEnrolmentRecord,
  writeDeviceEnrolment,
  type DeviceEnrolment,
  type DeviceRole,
  type EnrolmentRecord,
  type SignedEnrolment
} from './record.js'
