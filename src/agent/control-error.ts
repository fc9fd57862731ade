import { FleetError } from '../common/index.js'

/** A control-socket request refused: its code names why (ERR_BAD_REQUEST, ERR_GATE_OFF, …). */
export class ControlError extends FleetError {
  constructor(message: string, code = 'ERR_CONTROL') {
    super(message, { code })
  }
}
