import { decodeCanonical } from './decoder.js'
import { checkRecord } from './check.js'
import type { RecordOf, Schema } from './schema.js'

/**
 * The typed strict decoder of a record: canonical CBOR within `maxBytes` (MalformedCborError
 * otherwise), then exactly the schema's fields, each of its kind and within its bounds (a
 * SchemaError otherwise). With `byteViews`, byte fields are views into `bytes`, not copies.
 */
export function decodeRecord<S extends Schema>(
  bytes: Uint8Array,
  schema: S,
  options: RecordDecodeOptions = {}
): RecordOf<S> {
  const value = decodeCanonical(bytes, { maxBytes: options.maxBytes, byteViews: options.byteViews })
  return checkRecord(value, schema, options.path)
}

export interface RecordDecodeOptions {
  /** Size cap of the input (default CBOR_LIMITS.maxBytes). */
  maxBytes?: number
  /** Byte fields as views into the input rather than copies. */
  byteViews?: boolean
  /** Where the record is, for refusals' paths (default: the record itself, ""). */
  path?: string
}
