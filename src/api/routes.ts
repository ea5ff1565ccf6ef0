import { accountDataApi } from '../auth/account-routes.js';
import { accountApi } from '../auth/routes.js';
import { domainsApi } from '../domains/routes.js';
import { mailboxesApi } from '../mailboxes/routes.js';
import { auditApi } from '../audit/routes.js';
import { ingestApi } from '../ingest/routes.js';
import { reportsApi } from '../reports/routes.js';
import { sourcesApi } from '../sources/routes.js';
import { servicesApi } from '../services/routes.js';
import { orgsApi } from '../orgs/routes.js';
import type { ApiRoute } from './define.js';

/** Every route of /api/v1, in the order of the reference. */
export const apiRoutes: readonly ApiRoute[] = [...accountApi, ...accountDataApi, ...orgsApi, ...domainsApi, ...mailboxesApi, ...reportsApi, ...sourcesApi, ...servicesApi, ...ingestApi, ...auditApi];
