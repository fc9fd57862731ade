/** Entries [from, from + entries.length) of a feed, with a signed checkpoint of size ≥ their end and a consistency proof from their end to it. */
export interface SyncBatch {
  feed: string
  from: number
  entries: Uint8Array[]
  checkpoint: string
  proof: Uint8Array[]
}
