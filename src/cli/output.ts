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
  options: {
    /** false: never shows anything (a command printing JSON). */
    enabled?: boolean
    stream?: NodeJS.WriteStream
    now?: () => number
    everyMs?: number
  } = {}
): Progress {
  const stream = options.stream ?? process.stderr
  const now = options.now ?? (() => performance.now())
  const shownLabel = printable(label)
  const everyMs = options.everyMs ?? 200
  let shown = Number.NEGATIVE_INFINITY
  let written = false
  return {
    update(done, total) {
      if (options.enabled === false || stream.isTTY !== true || now() - shown < everyMs) return
      shown = now()
      written = true
      stream.write(`\r${shownLabel}: ${done}${total === undefined ? '' : ` of ${total}`}\x1b[K`)
    },
    end() {
      if (written) stream.write('\r\x1b[K')
      written = false
    }
  }
}

/**
 * What a long wait is waiting for, with the seconds it has taken: on a terminal only, one line
 * rewritten each second. `show` names the phase (the count starts again), `clear` removes the
 * line before anything else is printed (a prompt, a note, the result).
 */
export interface Waiting {
  show(label: string): void
  clear(): void
}

export function makeWaiting(
  options: {
    /** false: never shows anything (a command printing JSON). */
    enabled?: boolean
    stream?: NodeJS.WriteStream
    now?: () => number
    /** Calls `tick` about once a second until the returned function is called (a timer by default). */
    every?: (tick: () => void) => () => void
  } = {}
): Waiting {
  const stream = options.stream ?? process.stderr
  const now = options.now ?? (() => performance.now())
  const every =
    options.every ??
    ((tick: () => void) => {
      const timer = setInterval(tick, 1_000)
      timer.unref()
      return () => clearInterval(timer)
    })
  let stop: (() => void) | undefined
  let label = ''
  let since = 0
  const draw = (): void => {
    stream.write(`\r${label} (${Math.floor((now() - since) / 1_000)} s)\x1b[K`)
  }
  const clear = (): void => {
    if (stop === undefined) return
    stop()
    stop = undefined
    stream.write('\r\x1b[K')
  }
  return {
    show(next) {
      if (options.enabled === false || stream.isTTY !== true) return
      clear()
      label = printable(next)
      since = now()
      draw()
      stop = every(draw)
    },
    clear
  }
}

/** A label as it may go to a terminal: control characters (escape sequences a file name could carry) as "?". */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')
}
