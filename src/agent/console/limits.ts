/** Every cap of the fleet console (the agent's loopback web console). */
export const CONSOLE_LIMITS = {
  /** Request headers, in bytes. */
  maxHeaderBytes: 16 * 1024,
  /** A request must arrive whole within this long (ms). */
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  /** A login request body, in bytes. */
  maxLoginBody: 1024,
  /** A security-key login request body (a nonce and the key's assertion, in JSON), in bytes. */
  maxKeyLoginBody: 8 * 1024,
  /** Security-key challenges outstanding (the oldest is dropped when full). */
  maxKeyChallenges: 32,
  /** How long a security-key challenge may be answered (ms): also the ceremony's timeout in the page. */
  keyChallengeMs: 120_000,
  /** Operators offered to a security key, and credentials whose counters are remembered. */
  maxKeyOperators: 256,
  /** Signed-in browser sessions kept (the oldest is signed out first). */
  maxSessions: 64,
  /** How long a session lasts (ms). */
  sessionMs: 12 * 60 * 60 * 1000,
  /** Live-update streams open at once (more are refused with 503). */
  maxEventStreams: 16,
  /** How often the console looks for changes to tell the live streams (ms). */
  changePollMs: 1_000,
  /** A comment sent on each live stream this often, so that proxies and browsers keep it open (ms). */
  heartbeatMs: 15_000,
  /** Entries of one feed in one page of its timeline. */
  maxPageEntries: 5_000,
  /** The default page of a timeline. */
  defaultPageEntries: 500,
  /** Entries read from the end of each feed for the alerts list. */
  alertScanEntries: 2_000,
  /** Alerts listed, newest first. */
  maxAlerts: 200,
  /** Alerts listed of one feed (the newest): one feed cannot crowd out the others. */
  maxAlertsPerFeed: 20,
  /** A body shown in a timeline row, in characters. */
  maxSummaryChars: 240,
  /** Enrolment records decoded and kept for hostnames and roles. */
  maxRecordsKept: 65_536
} as const
