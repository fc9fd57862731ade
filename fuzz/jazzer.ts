/**
 * Child process entry: runs the Jazzer.js command line with the given arguments, after making its
 * native addon loadable on this machine's libraries (see compat.ts).
 */
import { createRequire } from 'node:module'
import { installJazzerAddonFallback } from './compat.js'

installJazzerAddonFallback()
process.argv = [process.argv[0]!, 'jazzer', ...process.argv.slice(2)]
createRequire(import.meta.url)('@jazzer.js/core/dist/cli.js')
