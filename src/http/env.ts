import type { OrganizationMembership } from '../orgs/memberships.js';
import type { SessionState } from '../auth/sessions.js';
import type { AppVariables } from './auth-context.js';
import type { ClientInfo } from './client-ip.js';

export interface WebVariables extends AppVariables {
  /** The browser session from the cookie (also while its second factor is pending), or null. */
  session: SessionState | null;
  client: ClientInfo;
  /** A signed-in member's organisations, read with the access check for the page's switcher. */
  organizations?: OrganizationMembership[];
}

/** The Hono environment of the web application. */
export interface WebEnv {
  Variables: WebVariables;
}
