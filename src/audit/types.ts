/** One state change, written by `recordAuditEvent` in the same transaction as the change itself. */
export interface AuditInput {
  /** The organisation the change belongs to; null for instance-level events (sign-up policy, instance admin). */
  orgId: number | null;
  actor: { type: 'user'; id: number } | { type: 'api_key'; id: number } | { type: 'system'; id?: string };
  /** Dotted verb, e.g. `mailbox.create`, `member.role_change`, `api_key.revoke`, `session.sign_in`. */
  action: string;
  target?: { type: string; id: string | number };
  /** Before/after summary for people and SIEMs. Never secrets: values under secret-looking keys are dropped. */
  summary?: Record<string, unknown>;
  ip?: string | null;
}
