/** The agent's web console on loopback (see server.ts). */
export { ConsoleData, FeedNotHeldError, summarise } from './data.js'
export type { ConsoleOverview, ConsoleMember, ConsoleVerdict, ConsolePeer, ConsoleFeed, ConsoleEntry } from './data.js'
export { startConsoleServer, type ConsoleServer, type ConsoleServerInit } from './server.js'
export { consoleToken, ConsoleSessions } from './token.js'
export { CONSOLE_LIMITS } from './limits.js'
export { CONSOLE_CSP } from './assets.js'
export { startAgentConsole } from './agent-console.js'
export { KeySignIn, KeySignInRefusedError, signInBytes, type ConsoleOperator } from './key-sign-in.js'
export {
  readConsoleAddress,
  consoleHelloProof,
  NoConsoleError,
  CONSOLE_PORT_FILE,
  CONSOLE_TOKEN_FILE
} from './address.js'
