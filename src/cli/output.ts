/**
 * How commands print: data to stdout (JSON when --json), diagnostics to stderr, one line each.
 */
export interface Output {
  readonly json: boolean
  /** Prints the result: `value` as one JSON line with --json, else the human text. */
  result(value: unknown, text: string): void
  /** A line for humans on stderr (progress, hints); suppressed with --json. */
  note(text: string): void
}

export function makeOutput(json: boolean): Output {
  return {
    json,
    result(value, text) {
      process.stdout.write(json ? `${JSON.stringify(value, jsonReplacer)}\n` : text.endsWith('\n') ? text : `${text}\n`)
    },
    note(text) {
      if (!json) process.stderr.write(`${text}\n`)
    }
  }
}

/** bigint → string and bytes → hex, so results serialise without surprises. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex')
  if (value instanceof Map) return Object.fromEntries(value)
  return value
}
