/**
 * Small pieces shared by every module: the error base classes and byte helpers.
 */
export { FleetError, MalformedInputError, UsageError, AbortedError } from './errors.js'
export {
  toHex,
  fromHex,
  toBase64,
  fromBase64,
  toBase64url,
  fromBase64url,
  concatBytes,
  bytesEqual,
  u32be,
  sha256
} from './bytes.js'
export { projectRoot } from './project-root.js'
export { readBoundedFile, type BoundedReadProblem } from './bounded-file.js'
export { writeFileDurably, syncFolder } from './durable-file.js'
export { steadyClock, systemClock, type Clock } from './clock.js'
export { cryptoRandom, type Random } from './random.js'
export { base32 } from './base32.js'
export { DerReader, DER_TAG, type DerTlv, type DerExtension, type DerReaderOptions } from './der.js'
export { processExists } from './process.js'
export { makeDirectory, DirectoryError } from './directory.js'
