/** The palette of every Dispatch embed. */
export const COLORS = {
  red: 0xe03e2f,
  orange: 0xf5a623,
  blue: 0x3b82f6,
  gray: 0x95a5a6,
  green: 0x2ecc71,
  purple: 0x8b5cf6,
} as const;

/** Sentry's levels as colors; an unknown or missing level is treated as an error. */
export function levelColor(level: string | undefined): number {
  switch (level?.toLowerCase()) {
    case 'fatal':
    case 'error':
      return COLORS.red;
    case 'warning':
      return COLORS.orange;
    case 'info':
      return COLORS.blue;
    case 'debug':
      return COLORS.gray;
    default:
      return COLORS.red;
  }
}
