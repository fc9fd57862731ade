/** The part of hypercore's API the benches use (the package ships no type declarations). */
declare module 'hypercore' {
  export default class Hypercore {
    constructor (storage: string)
    readonly length: number
    ready (): Promise<void>
    append (blocks: Buffer | Buffer[]): Promise<{ length: number }>
    close (): Promise<void>
  }
}
