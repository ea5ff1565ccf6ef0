import type { ApiScope, Role } from '../auth/roles.js';

/**
 * Who is calling, set on the Hono context (`c.get('caller')`) by the session or API-key
 * middleware. Organisation-scoped routes resolve `orgId`/`role` for the organisation in the URL
 * (or the key's own organisation) and answer 404 when the caller has no access to it.
 */
export type Caller =
  | { kind: 'anonymous' }
  | { kind: 'user'; userId: number; sessionId: number; email: string; instanceAdmin: boolean }
  | { kind: 'api_key'; apiKeyId: number; orgId: number; orgSlug: string; scope: ApiScope };

export interface OrgAccess {
  orgId: number;
  /** The member's role; an API key acts with the role its scope maps to. */
  role: Role;
  caller: Exclude<Caller, { kind: 'anonymous' }>;
}

export interface AppVariables {
  caller: Caller;
  requestId: string;
  org: OrgAccess;
  /**
   * Anti-CSRF token of the browser session, null without one. Every form that POSTs while signed in
   * carries it as a hidden `_csrf` field (or a fetch sends it as `X-CSRF-Token`); see src/http/csrf.ts.
   */
  csrfToken: string | null;
}
