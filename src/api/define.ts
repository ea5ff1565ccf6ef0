import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { AuditInput } from '../audit/types.js';
import type { Permission } from '../auth/roles.js';
import type { Config } from '../config.js';
import type { DB } from '../db/schema.js';
import type { Caller, OrgAccess } from '../http/auth-context.js';
import type { WebEnv } from '../http/env.js';
import type { Keyring } from '../lib/crypto/index.js';
import type { Logger } from '../lib/logger.js';
import type { Mailer } from '../mail/mailer.js';
import type { JsonText } from './pagination.js';

/** What every API handler may use. */
export interface ApiDeps {
  db: Kysely<DB>;
  config: Config;
  keyring: Keyring;
  logger: Logger;
  mailer: Mailer;
  clock: () => Date;
}

export type HttpMethod = 'get' | 'post' | 'patch' | 'put' | 'delete';

/**
 * Who may call a route:
 * - `{ org: permission }`: the path holds `{org}` (the organisation's slug); members with a role that
 *   allows the permission, and that organisation's API keys with a scope that allows it.
 * - `'user'`: a signed-in person (their own account, sessions, organisations); API keys get 403
 *   unless `keys: true`.
 */
export type RouteAccess = { org: Permission } | 'user';

export type SignedInCaller = Exclude<Caller, { kind: 'anonymous' }>;

interface BaseContext<P, Q, B> {
  c: Context<WebEnv>;
  deps: ApiDeps;
  db: Kysely<DB>;
  params: P;
  query: Q;
  body: B;
  caller: SignedInCaller;
  /** The audit actor of the caller. */
  actor: AuditInput['actor'];
  ip: string | null;
  now: Date;
}

export interface UserContext<P, Q, B> extends BaseContext<P, Q, B> {
  org: null;
}

export interface OrgContext<P, Q, B> extends BaseContext<P, Q, B> {
  org: OrgAccess & { slug: string };
}

type Schema = z.ZodType;
type Infer<S> = S extends z.ZodType ? z.infer<S> : undefined;

interface RouteShape<P extends Schema | undefined, Q extends Schema | undefined, B extends Schema | 'multipart' | undefined, R extends Schema | 'binary' | null> {
  method: HttpMethod;
  /** OpenAPI-style path under /api/v1, e.g. `/orgs/{org}/domains/{domain}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  params?: P;
  query?: Q;
  /** A JSON body schema, or 'multipart' for a form upload the handler reads itself. */
  body?: B;
  /** Success body: a schema, 'binary' for a download, or null for 204 No Content. */
  response: R;
  /** Success status; 200 by default (204 when the response is null). */
  status?: 200 | 201 | 202;
  /** Extra error answers this route gives, for the OpenAPI document (code → when). */
  errors?: Record<number, string>;
}

type Result<R> = R extends z.ZodType ? z.input<R> | JsonText | Response : R extends 'binary' ? Response : void | Response;
type BodyOf<B> = B extends 'multipart' ? undefined : Infer<B>;

export interface OrgRouteSpec<P extends Schema | undefined, Q extends Schema | undefined, B extends Schema | 'multipart' | undefined, R extends Schema | 'binary' | null>
  extends RouteShape<P, Q, B, R> {
  permission: Permission;
  handler: (ctx: OrgContext<Infer<P>, Infer<Q>, BodyOf<B>>) => Promise<Result<R>>;
}

export interface UserRouteSpec<P extends Schema | undefined, Q extends Schema | undefined, B extends Schema | 'multipart' | undefined, R extends Schema | 'binary' | null>
  extends RouteShape<P, Q, B, R> {
  /** Let API keys call it too (the handler must then cope with an api_key caller). */
  keys?: boolean;
  handler: (ctx: UserContext<Infer<P>, Infer<Q>, BodyOf<B>>) => Promise<Result<R>>;
}

/** A route as the router and the OpenAPI builder see it. */
export interface ApiRoute {
  method: HttpMethod;
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  access: RouteAccess;
  keys: boolean;
  params?: Schema;
  query?: Schema;
  body?: Schema | 'multipart';
  response: Schema | 'binary' | null;
  status: 200 | 201 | 202 | 204;
  errors: Record<number, string>;
  handler: (ctx: OrgContext<unknown, unknown, unknown> | UserContext<unknown, unknown, unknown>) => Promise<unknown>;
}

function finish(spec: RouteShape<Schema | undefined, Schema | undefined, Schema | 'multipart' | undefined, Schema | 'binary' | null>, access: RouteAccess, keys: boolean, handler: ApiRoute['handler']): ApiRoute {
  return {
    method: spec.method,
    path: spec.path,
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    tag: spec.tag,
    access,
    keys,
    ...(spec.params === undefined ? {} : { params: spec.params }),
    ...(spec.query === undefined ? {} : { query: spec.query }),
    ...(spec.body === undefined ? {} : { body: spec.body }),
    response: spec.response,
    status: spec.response === null ? 204 : (spec.status ?? 200),
    errors: spec.errors ?? {},
    handler,
  };
}

/** A route inside one organisation: the path starts with `/orgs/{org}`. */
export function orgRoute<P extends Schema | undefined, Q extends Schema | undefined, B extends Schema | 'multipart' | undefined, R extends Schema | 'binary' | null>(
  spec: OrgRouteSpec<P, Q, B, R>,
): ApiRoute {
  if (!spec.path.startsWith('/orgs/{org}')) throw new Error(`${spec.operationId}: an organisation route's path starts with /orgs/{org}`);
  return finish(spec, { org: spec.permission }, true, spec.handler as ApiRoute['handler']);
}

/** A route of the signed-in person, outside any one organisation. */
export function userRoute<P extends Schema | undefined, Q extends Schema | undefined, B extends Schema | 'multipart' | undefined, R extends Schema | 'binary' | null>(
  spec: UserRouteSpec<P, Q, B, R>,
): ApiRoute {
  return finish(spec, 'user', spec.keys ?? false, spec.handler as ApiRoute['handler']);
}
