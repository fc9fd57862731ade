/** The registry of every simnet scenario, in the order they run. */
import type { Scenario } from './index.js'
import { convergence, killRestart, partitionHeal, scale } from './ledger.js'
import { clone, relayQuote, revoke, tamperedBoot } from './trust.js'
import { equivocate } from './equivocation.js'
import { chaos } from './chaos.js'
import { hubDown, multiSite, strangerRelay, wanPartitionHeal } from './sites.js'

export const SCENARIOS: Scenario[] = [
  convergence,
  tamperedBoot,
  clone,
  revoke,
  equivocate,
  relayQuote,
  killRestart,
  partitionHeal,
  scale,
  chaos,
  multiSite,
  hubDown,
  wanPartitionHeal,
  strangerRelay
]
