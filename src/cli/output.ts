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

/** A count shown while a long operation runs: on a terminal only, rewritten in place at most 5 times a second. */
export interface Progress {
  /** `done` items so far (of `total`, when known). */
  update(done: number, total?: number): void
  /** Clears the line (the command's result line follows). */
  end(): void
}

export function makeProgress(
  label: string,
  options: { stream?: NodeJS.WriteStream; now?: () => number; everyMs?: number } = {}
): Progress {
  const stream = options.stream ?? process.stderr
  const now = options.now ?? Date.now
  const everyMs = options.everyMs ?? 200
  let shown = Number.NEGATIVE_INFINITY
  let written = false
  return {
    update(done, total) {
      if (stream.isTTY !== true || now() - shown < everyMs) return
      shown = now()
      written = true
      stream.write(`\r${label}: ${done}${total === undefined ? '' : ` of ${total}`}\x1b[K`)
    },
    end() {
      if (written) stream.write('\r\x1b[K')
    }
  }
}
