/**
 * The CLI's reference, made from the command tree itself so that it cannot drift from it: a man
 * page (roff) holding every command's own --help, and a bash completion of the commands and their
 * options. Both are written into the package (scripts/package.sh, through scripts/cli-reference.ts).
 */
import type { Command, Option } from 'commander'

/** Every command under `root`, depth first, with its full name ("fleet ledger verify"). */
export function commandsOf(root: Command): { path: string[]; command: Command }[] {
  const found: { path: string[]; command: Command }[] = []
  const walk = (command: Command, path: string[]): void => {
    found.push({ path, command })
    for (const sub of command.commands) walk(sub, [...path, sub.name()])
  }
  walk(root, [])
  return found
}

/** What `fleet … --help` prints for this command, the text before and after the option list included. */
export function helpOf(command: Command): string {
  let text = ''
  const capture = (chunk: string): void => {
    text += chunk
  }
  command.configureOutput({ writeOut: capture, writeErr: capture, getOutHelpWidth: () => 100 })
  command.outputHelp()
  return text
}

/** Text for a no-fill roff block: backslashes and hyphens escaped, no line read as a request. */
function roffVerbatim(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const escaped = line.replaceAll('\\', '\\e').replaceAll('-', '\\-')
      return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped
    })
    .join('\n')
}

function roffText(text: string): string {
  return roffVerbatim(text.trim()).replace(/\n+/g, ' ')
}

/** fleet(1): the commands' own help texts, in the order of the tree. `date` is YYYY-MM-DD. */
export function manPage(root: Command, options: { version: string; date: string }): string {
  const name = root.name()
  const lines = [
    `.TH ${name.toUpperCase()} 1 "${options.date}" "fleet-agent ${options.version}" "User Commands"`,
    '.SH NAME',
    `${name} \\- ${roffText(root.description())}`,
    '.SH SYNOPSIS',
    `.B ${name}`,
    '.I command',
    '[\\fIoptions\\fR]',
    '.SH DESCRIPTION',
    'Each command below is shown with the help it prints for',
    `.BR "${name} " "\\fIcommand\\fR \\-\\-help" .`,
    'Commands that read or change a device take its state directory with',
    '.BR \\-\\-state ;',
    'the agent itself is',
    `.BR "${name} run" ,`,
    'started by the systemd unit',
    '.BR fleet-agent.service .',
    '.SH COMMANDS'
  ]
  for (const { path, command } of commandsOf(root)) {
    lines.push(`.SS "${[name, ...path].join(' ')}"`, '.nf', roffVerbatim(helpOf(command).trimEnd()), '.fi')
  }
  lines.push(
    '.SH EXIT STATUS',
    '.TP',
    '.B 0',
    'success.',
    '.TP',
    '.B 1',
    'refused: a verification failed, or an operation could not be done (TPM, network, state).',
    '.TP',
    '.B 2',
    'bad usage or unreadable input.',
    '.TP',
    '.B 75',
    '.RB ( "fleet run" )',
    'the TPM stopped answering or the store could not be written: the unit restarts the agent.',
    '.SH FILES',
    '.TP',
    '.I /var/lib/fleet-agent',
    "the agent's state directory (mode 0700, user fleet).",
    '.TP',
    '.I /etc/fleet-agent/config.json',
    "the agent's configuration, read when present.",
    '.TP',
    '.I /lib/systemd/system/fleet-agent.service',
    'the unit that runs the agent.',
    '.SH SEE ALSO',
    '.I /usr/share/doc/fleet-agent/',
    'for operations, security and the protocols.',
    ''
  )
  return lines.join('\n')
}

function takesValue(option: Option): boolean {
  return option.required || option.optional
}

function words(list: string[]): string {
  return list.join(' ')
}

/** A bash completion function for `root`: its commands, then each command's options. */
export function bashCompletion(root: Command): string {
  const name = root.name()
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`
  const cases: string[] = []
  for (const { path, command } of commandsOf(root)) {
    const options = command.options.filter((o) => !o.hidden)
    const flags = [...options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined)), '--help']
    if (path.length === 0) flags.push('--version')
    const valued = options.filter(takesValue).flatMap((o) => [o.long, o.short].filter((f) => f !== undefined))
    const dirs = options
      .filter((o) => takesValue(o) && /<dir>/.test(o.flags))
      .flatMap((o) => [o.long, o.short].filter((f) => f !== undefined))
    cases.push(
      `    '${path.join(' ')}')`,
      `      subs='${words(command.commands.map((c) => c.name()))}'`,
      `      opts='${words([...new Set(flags)])}'`,
      `      valued='${words(valued as string[])}'`,
      `      dirs='${words(dirs as string[])}'`,
      '      ;;'
    )
  }
  return `# bash completion for ${name}(1), made from its command tree (scripts/cli-reference.ts).
${fn}_words() {
  subs='' opts='' valued='' dirs=''
  case "$1" in
${cases.join('\n')}
  esac
}

${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local path='' word i subs opts valued dirs
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    ${fn}_words "$path"
    case " $valued " in *" $word "*) ((i++)); continue ;; esac
    case " $subs " in *" $word "*) path=\${path:+$path }$word ;; esac
  done
  ${fn}_words "$path"
  case " $dirs " in *" $prev "*)
    mapfile -t COMPREPLY < <(compgen -d -- "$cur")
    return ;;
  esac
  case " $valued " in *" $prev "*)
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    return ;;
  esac
  if [[ $cur == -* || -z $subs ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
  fi
}
complete -o default -F ${fn} ${name}
`
}
