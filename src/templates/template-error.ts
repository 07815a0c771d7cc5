import { UserError } from '../user-error.js';

/** How a template failed; `refused by Discord` is found only when its message is sent. */
export type TemplateFailure = 'syntax' | 'missing variable' | 'invalid JSON' | 'limits' | 'render' | 'refused by Discord';

/** Why a template could not make a message. Shown to admins; the event falls back to the built-in embed. */
export class TemplateError extends UserError {
  constructor(
    readonly kind: TemplateFailure,
    message: string,
  ) {
    super(message);
  }
}
