import { FleetError } from '../../common/index.js'

/** Thrown when a store is read or written while it is not open (before open(), or after close()). */
export class LedgerStoreClosedError extends FleetError {
  readonly status: string
  constructor(status: string) {
    super(`the ledger store is not open (it is ${status})`, { code: 'ERR_LEDGER_STORE_CLOSED' })
    this.status = status
  }
}

/** Thrown when a LevelDB ledger is held by another process (a running agent holds its own). */
export class LedgerStoreLockedError extends FleetError {
  readonly location: string
  constructor(location: string, cause: unknown) {
    super(`the ledger store at ${location} is in use by another process`, { code: 'ERR_LEDGER_LOCKED', cause })
    this.location = location
  }
}

/** Thrown when a sublevel name is not one LevelDB's sublevels take (see checkSublevelName). */
export class InvalidSublevelNameError extends FleetError {
  readonly sublevelName: string
  constructor(name: string) {
    const reason = "1 or more printable ASCII characters above '\"'"
    super(`"${name.slice(0, 64)}" is not a sublevel name (${reason})`, { code: 'ERR_SUBLEVEL_NAME' })
    this.sublevelName = name
  }
}

/** Thrown when a write names a sublevel of another store: nothing of that write is applied. */
export class ForeignSublevelError extends FleetError {
  readonly path: readonly string[]
  constructor(path: readonly string[]) {
    super(`sublevel ${path.join('/')} belongs to another store`, { code: 'ERR_FOREIGN_SUBLEVEL' })
    this.path = path
  }
}

/** Thrown when a batch is used after it was written or closed. */
export class LedgerBatchClosedError extends FleetError {
  constructor() {
    super('the batch was already written or closed', { code: 'ERR_LEDGER_BATCH_CLOSED' })
  }
}

/** Thrown when an iterator is read after it was closed (by its reader, or with its store). */
export class LedgerIteratorClosedError extends FleetError {
  constructor() {
    super('the iterator is closed', { code: 'ERR_LEDGER_ITERATOR_CLOSED' })
  }
}

/**
 * Thrown by every write after one that failed (a full disk, an I/O error), and given to
 * `LevelLedgerStore.onWriteFailed`: LevelDB's log may now end in a partial record, and records
 * appended after it would be dropped when the log is replayed at the next open, acknowledged or
 * not. So the store takes no more writes until it is opened again; what was written before the
 * failure is intact. `cause` is the failed write's error.
 */
export class LedgerStoreWriteFailedError extends FleetError {
  readonly location: string
  constructor(location: string, cause: unknown) {
    super(
      `a write to the ledger store at ${location} failed (${(cause as Error)?.message ?? String(cause)}): it takes no more writes until it is opened again`,
      { code: 'ERR_LEDGER_STORE_FAILED', cause }
    )
    this.location = location
  }
}
