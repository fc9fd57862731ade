/**
 * Attestation results as EAR (draft-ietf-rats-ear, with the AR4SI trustworthiness vector): a JWT
 * signed ES256 by the issuing device's TPM-held DSK, about a device this agent attested, stating
 * its latest verdict's appraisal; and the fleet's published keys (JWKS) to verify it with.
 *
 * @example
 * const issuer = new EarIssuer({ issuer: deviceId, signer: deviceSigner(tpm, device).authority, … })
 * const { token } = await issuer.issue({ device: peerDeviceId, nonce, audience: 'https://rp.example' })
 * // relying party: jose.jwtVerify(token, jose.createLocalJWKSet(jwks), { audience })
 */
export { EAR_LIMITS } from './limits.js'
export { EarRequestError, EarSelfError, EarStaleVerdictError, EarUnknownDeviceError } from './errors.js'
export {
  AR4SI,
  earStatus,
  tierOf,
  trustworthinessVector,
  verdictOfStatus,
  type EarStatus,
  type EarVerdict,
  type TpmTier,
  type TrustworthinessVector
} from './appraisal.js'
export {
  EAR_BUILD,
  EAR_DEVELOPER,
  EAT_PROFILE,
  earClaims,
  earHeader,
  earSigningInput,
  encodeEar,
  type EarClaimsInput,
  type EarSigner
} from './token.js'
export { EarIssuer, checkEarRequest, type EarIssuerInit, type EarRequest, type IssuedEar } from './issuer.js'
export { deviceJwk, enrolledSigningKeys, fleetJwks, type EarJwk } from './jwks.js'
