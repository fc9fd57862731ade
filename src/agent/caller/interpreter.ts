/**
 * Interpreters: executables that run a program their command line names. Their digest names the
 * interpreter, not that program; the script is recorded beside it as the process's own word (a
 * process can rewrite its argv, and an interpreter loads other code too: NODE_OPTIONS, PYTHONPATH).
 */

/** Known by the executable's file name; the digest, not the name, is the identity. */
const INTERPRETER = /^(node|nodejs|python\d*(\.\d+)?|perl\d*(\.\d+)*|ruby\d*(\.\d+)?|php\d*(\.\d+)?|sh|bash|dash|zsh)$/

/** The file name of a path /proc/PID/exe shows, without its " (deleted)". */
function executableName(exe: string): string {
  const file = exe.endsWith(' (deleted)') ? exe.slice(0, -' (deleted)'.length) : exe
  return file.slice(file.lastIndexOf('/') + 1)
}

export function isInterpreter(exe: string): boolean {
  return INTERPRETER.test(executableName(exe))
}

/** The arguments of a /proc/PID/cmdline text: NUL-terminated strings (the last may be cut off). */
export function parseCommandLine(bytes: Uint8Array): string[] {
  const text = Buffer.from(bytes).toString('utf8')
  const args = text.split('\0')
  if (args.at(-1) === '') args.pop()
  return args
}

/**
 * The script an interpreter was started with: argv[1], unless it is an option (`node -e …`,
 * `python -m …`, `node --require x app.js`), after which no one argument names the program run.
 */
export function scriptArgument(argv: readonly string[]): string | undefined {
  const first = argv[1]
  if (first === undefined || first.length === 0 || first.startsWith('-')) return undefined
  return first
}
