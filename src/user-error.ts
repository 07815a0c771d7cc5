/**
 * A problem the user can fix. Its message is shown to them as is, so it must never contain
 * a secret or internal detail; anything that is not a UserError gets a generic reply instead.
 */
export class UserError extends Error {}
