import type { SessionState } from '../auth/sessions.js';
import type { AppVariables } from './auth-context.js';
import type { ClientInfo } from './client-ip.js';

export interface WebVariables extends AppVariables {
  /** The browser session from the cookie (also while its second factor is pending), or null. */
  session: SessionState | null;
  client: ClientInfo;
}

/** The Hono environment of the web application. */
export interface WebEnv {
  Variables: WebVariables;
}
