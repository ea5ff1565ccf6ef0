/**
 * A change to an organisation or its members that its rules do not allow:
 * - `not_found`: no such member or invitation in this organisation (or the caller may not know of it);
 * - `forbidden`: the caller's role does not allow it;
 * - `conflict`: it would break a rule (the last owner, an existing member…).
 * The message says what to do instead.
 */
export class OrgRuleError extends Error {
  constructor(
    readonly kind: 'not_found' | 'forbidden' | 'conflict',
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'OrgRuleError';
  }
}
