/**
 * The schema language: plain data (it encodes as CBOR or JSON unchanged, so a schema can itself
 * travel in a format, as the ledger's ontology updates do) describing records of named fields.
 *
 * A record schema names every field it allows; a record with a field it does not name is refused,
 * and so is one lacking a field that is not `optional`. Each field has a kind and bounds:
 *
 *   string  text: `max` (and `min`) length in UTF-16 code units, a `pattern` (a regular expression
 *           source, no flags) it must match, or `oneOf` the choices it must be
 *   bytes   a byte string: `max` length, or exactly `size` bytes; `nullable` also allows null
 *   uint    a non-negative integer within 2^53: `max` (and `min`)
 *   bool    true or false
 *   list    an array of `item`s: `maxItems` (and `minItems`); `unique` refuses a repeated item
 *   record  a nested record of `fields`, as strict as the outer one
 *   map     a map of any keys (matching `keyPattern`) to `value`s: `maxEntries` (and `minEntries`)
 *   variant a record whose `tag` field (text) picks its schema among `variants`
 *
 * Every field may also say:
 *   optional  the field may be absent from its record
 *   expected  what the field wants, in words: every refusal within it is then said as
 *             "must be <expected>" at the field (for messages a person reads, e.g. config files)
 *   text      also accept the value written as text (environment variables, command-line flags):
 *             a uint as decimal digits, a bool as 0, 1, true or false, a list as comma-separated
 *             items; the checked record holds the converted value
 *
 * Schemas MUST NOT be changed once used: each field and record schema is compiled into its check
 * once, remembered by identity.
 */
export type Field = StringField | BytesField | UintField | BoolField | ListField | RecordField | MapField | VariantField

export type Schema = Readonly<Record<string, Field>>

interface Common {
  readonly optional?: boolean
  readonly expected?: string
  readonly text?: boolean
}

export interface StringField extends Common {
  readonly kind: 'string'
  readonly max?: number
  readonly min?: number
  readonly pattern?: string
  readonly oneOf?: readonly string[]
}

export interface BytesField extends Common {
  readonly kind: 'bytes'
  readonly max: number
  readonly size?: number
  readonly nullable?: boolean
}

export interface UintField extends Common {
  readonly kind: 'uint'
  readonly max?: number
  readonly min?: number
}

export interface BoolField extends Common {
  readonly kind: 'bool'
}

export interface ListField extends Common {
  readonly kind: 'list'
  readonly maxItems: number
  readonly minItems?: number
  readonly unique?: boolean
  readonly item: Field
}

export interface RecordField extends Common {
  readonly kind: 'record'
  readonly fields: Schema
}

export interface MapField extends Common {
  readonly kind: 'map'
  readonly maxEntries: number
  readonly minEntries?: number
  readonly keyPattern?: string
  readonly value: Field
}

export interface VariantField extends Common {
  readonly kind: 'variant'
  /** The text field naming the variant; each variant's schema lists it too (usually with `oneOf`). */
  readonly tag: string
  readonly variants: Readonly<Record<string, Schema>>
}

/** The value a field holds once checked (unknown for a field known only as some Field). */
export type FieldValue<F extends Field> = Field extends F ? unknown : ValueOf<F>

type ValueOf<F extends Field> = F extends { kind: 'string' }
  ? string
  : F extends { kind: 'bytes'; nullable: true }
    ? Uint8Array | null
    : F extends { kind: 'bytes' }
      ? Uint8Array
      : F extends { kind: 'uint' }
        ? number
        : F extends { kind: 'bool' }
          ? boolean
          : F extends { kind: 'list'; item: infer I extends Field }
            ? Array<FieldValue<I>>
            : F extends { kind: 'record'; fields: infer S extends Schema }
              ? RecordOf<S>
              : F extends { kind: 'map'; value: infer V extends Field }
                ? Record<string, FieldValue<V>>
                : F extends { kind: 'variant'; variants: infer V extends Variants }
                  ? RecordOf<V[keyof V]>
                  : never

type Variants = Readonly<Record<string, Schema>>

type OptionalKeys<S extends Schema> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S]
type RequiredKeys<S extends Schema> = Exclude<keyof S, OptionalKeys<S>>

/** The record a schema describes, once checked (of unknown values for a schema known only as some Schema). */
export type RecordOf<S extends Schema> = Schema extends S
  ? Record<string, unknown>
  : { [K in RequiredKeys<S>]: FieldValue<S[K]> } & { [K in OptionalKeys<S>]?: FieldValue<S[K]> }
