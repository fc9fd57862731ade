/** Input: a release request file, a release approval file, or an approval's CBOR (owner-approved key release). */
import { decodeReleaseApproval, parseReleaseRequest, parseSignedApproval } from '../../src/agent/release/index.js'
import { bytes, typed } from '../common.js'

export function fuzz(data: Buffer): void {
  const input = bytes(data)
  typed(() => parseReleaseRequest(input))
  typed(() => decodeReleaseApproval(parseSignedApproval(input).approval))
  typed(() => decodeReleaseApproval(input))
}
