import { FleetError } from '../../common/index.js'

/** Thrown when a release request does not verify or its boot is not allowed: nothing is signed. */
export class ReleaseRequestRefusedError extends FleetError {
  constructor(reason: string) {
    super(`release request refused: ${reason}`, { code: 'ERR_RELEASE_REQUEST_REFUSED' })
  }
}

/** Thrown when an approval is malformed, not the owner's, or not for this device and state. */
export class ReleaseApprovalError extends FleetError {
  constructor(reason: string) {
    super(`release approval: ${reason}`, { code: 'ERR_RELEASE_APPROVAL' })
  }
}
