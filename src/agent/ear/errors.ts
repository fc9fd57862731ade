import { FleetError } from '../../common/index.js'
import { EAR_LIMITS } from './limits.js'

/** Thrown when asked for a result about a device this agent has never judged (and that is not excluded). Exit 1. */
export class EarUnknownDeviceError extends FleetError {
  readonly deviceId: string
  constructor(deviceId: string) {
    super(
      `this agent holds no verdict on device ${deviceId.slice(0, 64)}: it issues results only about peers it attested`,
      {
        code: 'ERR_EAR_UNKNOWN_DEVICE'
      }
    )
    this.deviceId = deviceId
  }
}

/**
 * Thrown when the latest verdict on the device is older than EAR_LIMITS.verdictFreshMs (or dated
 * ahead of this clock): a result would vouch for a state nobody checked lately. Exit 1.
 */
export class EarStaleVerdictError extends FleetError {
  readonly deviceId: string
  readonly verdictAt: number
  readonly now: number
  constructor(deviceId: string, verdictAt: number, now: number) {
    super(
      `the latest verdict on device ${deviceId} is from ${new Date(verdictAt).toISOString()}, ` +
        `not within the last ${EAR_LIMITS.verdictFreshMs / 60_000} minutes: no result is issued on it`,
      { code: 'ERR_EAR_STALE_VERDICT' }
    )
    this.deviceId = deviceId
    this.verdictAt = verdictAt
    this.now = now
  }
}

/** Thrown when a result is asked about the issuing device itself: an attester does not appraise itself. Exit 2. */
export class EarSelfError extends FleetError {
  constructor(deviceId: string) {
    super(`device ${deviceId} is this agent's own: ask a peer that attests it for a result about it`, {
      code: 'ERR_EAR_SELF',
      exitCode: 2
    })
  }
}

/** Thrown when the nonce or the audience of a request is malformed or out of bounds (EAR_LIMITS). Exit 2. */
export class EarRequestError extends FleetError {
  readonly field: 'nonce' | 'audience' | 'device'
  constructor(field: 'nonce' | 'audience' | 'device', reason: string) {
    super(`${field}: ${reason}`, { code: 'ERR_EAR_REQUEST', exitCode: 2 })
    this.field = field
  }
}
