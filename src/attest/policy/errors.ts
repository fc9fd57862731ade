import { FleetError, MalformedInputError } from '../../common/index.js'

/** Thrown when a boot policy file is not a valid v1 policy (unknown version or field, bad value). */
export class BootPolicyFormatError extends MalformedInputError {
  constructor(message: string) {
    super(`boot policy: ${message}`, { code: 'ERR_BOOT_POLICY_FORMAT' })
  }
}

/** Thrown when a policy cannot be built from a log (e.g. a requested PCR has no events). */
export class BootPolicyCreateError extends FleetError {
  constructor(message: string) {
    super(`cannot create a boot policy: ${message}`, { code: 'ERR_BOOT_POLICY_CREATE' })
  }
}
