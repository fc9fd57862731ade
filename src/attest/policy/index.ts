/**
 * Boot policy: a reference built from a known-good event log (allowed digests per PCR and event
 * type, Secure Boot requirement, bank, required PCR set), and its evaluation against a verified
 * boot. Evaluation returns a verdict with every reason; unknown versions or fields fail closed.
 *
 * @example
 * const policy = createBootPolicy(eventsOf(verifiedReferenceLog), secureBootOf(verifiedReferenceLog))
 * const verdict = evaluateVerifiedBoot(parseBootPolicy(policyJson), eventsOf(verifiedLog), quotedPcrs, secureBoot)
 * if (!verdict.trusted) for (const reason of verdict.reasons) console.log(reason.message)
 */
export { parseBootPolicy, canonicalPolicyJson, bootPolicyId, POLICY_LIMITS } from './format.js'
export type { BootPolicy, SecureBootRequirement } from './format.js'
export { createBootPolicy, DEFAULT_POLICY_PCRS } from './create.js'
export type { CreatePolicyOptions } from './create.js'
export { evaluateVerifiedBoot } from './evaluate.js'
export type { PolicyEvent, PolicyReason, PolicyReasonCode, BootVerdict } from './evaluate.js'
export { BootPolicyFormatError, BootPolicyCreateError } from './errors.js'
