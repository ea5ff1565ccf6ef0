import { Hono, type Context } from 'hono';
import type { z } from 'zod';
import type { AuditInput } from '../audit/types.js';
import { roleAllows } from '../auth/roles.js';
import type { WebEnv } from '../http/env.js';
import { orgAccessFor } from '../orgs/access.js';
import type { ApiDeps, ApiRoute, SignedInCaller } from './define.js';
import { ApiError } from './errors.js';
import { JsonText } from './pagination.js';

export interface ApiRouterOptions {
  /** Check every success body against the route's response schema (tests: the OpenAPI document stays true). */
  validateResponses?: boolean;
}

const JSON_CONTENT = { 'Content-Type': 'application/json' };

const PERMISSION_ROLE = { read: 'viewer', write: 'member', admin: 'admin' } as const;

function honoPath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

function issuesOf(error: z.ZodError, where: string): Array<{ in: string; path: string; message: string }> {
  return error.issues.map((issue) => ({ in: where, path: issue.path.map(String).join('.'), message: issue.message }));
}

function parseInput<S extends z.ZodType>(schema: S | undefined, value: unknown, where: string): unknown {
  if (schema === undefined) return undefined;
  const result = schema.safeParse(value);
  if (!result.success) {
    const details = issuesOf(result.error, where);
    const first = details[0];
    const message = first ? `Invalid ${where}${first.path ? ` field "${first.path}"` : ''}: ${first.message}.` : `Invalid ${where}.`;
    throw new ApiError(400, 'invalid_request', message, details);
  }
  return result.data;
}

async function jsonBody(c: Context<WebEnv>): Promise<unknown> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type !== 'application/json') throw new ApiError(415, 'unsupported_media_type', 'Send the body as JSON with Content-Type: application/json.');
  try {
    return await c.req.json();
  } catch {
    throw new ApiError(400, 'invalid_json', 'The body is not valid JSON.');
  }
}

function actorOf(caller: SignedInCaller): AuditInput['actor'] {
  return caller.kind === 'user' ? { type: 'user', id: caller.userId } : { type: 'api_key', id: caller.apiKeyId };
}

/**
 * Mounts the API routes: authentication, organisation access and role, input validation, and the
 * one error shape. Handlers receive validated input and return a body (or a Response).
 */
export function apiRouter(routes: readonly ApiRoute[], deps: ApiDeps, options: ApiRouterOptions = {}): Hono<WebEnv> {
  const app = new Hono<WebEnv>();

  for (const route of routes) {
    app.on(route.method.toUpperCase(), honoPath(route.path), async (c) => {
      const caller = c.get('caller');
      if (caller.kind === 'anonymous') throw new ApiError(401, 'unauthenticated', 'Sign in, or send an API key as `Authorization: Bearer dmw_…`.');

      let org = null;
      if (route.access === 'user') {
        if (caller.kind === 'api_key' && !route.keys) throw new ApiError(403, 'user_only', 'This needs a signed-in person; API keys cannot call it.');
      } else {
        org = await orgAccessFor(deps.db, caller, c.req.param('org') ?? '');
        if (!org) throw new ApiError(404, 'not_found', 'Organisation not found.');
        if (!roleAllows(org.role, route.access.org)) {
          const needed = PERMISSION_ROLE[route.access.org];
          const has = caller.kind === 'api_key' ? `this key has the ${caller.scope} scope` : `you are ${org.role === 'admin' ? 'an' : 'a'} ${org.role}`;
          throw new ApiError(403, 'forbidden', `This needs the ${needed === 'admin' ? 'admin' : needed} role or higher in this organisation (${has}).`);
        }
      }

      const params = parseInput(route.params, c.req.param(), 'path parameter');
      const query = parseInput(route.query, c.req.query(), 'query parameter');
      const body = route.body === undefined || route.body === 'multipart' ? undefined : parseInput(route.body, await jsonBody(c), 'body');

      const result = await route.handler({
        c,
        deps,
        db: deps.db,
        params,
        query,
        body,
        caller,
        actor: actorOf(caller),
        ip: c.get('client').ip,
        now: deps.clock(),
        org,
      } as Parameters<ApiRoute['handler']>[0]);

      if (result instanceof Response) return result;
      if (route.status === 204 || route.response === null) return c.body(null, 204);
      if (route.response === 'binary') throw new Error(`${route.operationId} must return a Response`);
      const text = result instanceof JsonText ? result.text : JSON.stringify(result);
      if (options.validateResponses) {
        const checked = route.response.safeParse(result instanceof JsonText ? JSON.parse(result.text) : result);
        if (!checked.success) throw new Error(`${route.operationId}: response does not match its schema: ${JSON.stringify(issuesOf(checked.error, 'response'))}`);
      }
      return c.body(text, route.status, JSON_CONTENT);
    });
  }

  app.notFound((c) => c.json({ error: { code: 'not_found', message: `No API route for ${c.req.method} ${c.req.path}; see /api/v1/openapi.json.` } }, 404));
  app.onError((error, c) => {
    if (error instanceof ApiError) return c.json(error.body(), error.status);
    deps.logger.error('API request failed', { error, requestId: c.get('requestId'), path: c.req.path });
    return c.json({ error: { code: 'internal', message: `Something went wrong on our side; the error has been logged (request ${c.get('requestId')}).` } }, 500);
  });
  return app;
}
