/** Bounds on what the device room reads from its state directory. */
export const DEVICE_LIMITS = {
  /** DIR/device.json. */
  maxStateBytes: 256 * 1024,
  /** DIR/owner-sealed.json: two sealed objects and the owner's point. */
  maxOwnerCopyBytes: 32 * 1024
} as const
