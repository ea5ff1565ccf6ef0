import { z } from 'zod';
import type { ApiRoute } from './define.js';

type JsonSchema = Record<string, unknown>;

const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'Stable, machine-readable reason (not_found, forbidden, invalid_request…).' },
        message: { type: 'string', description: 'What went wrong and what to do, for people.' },
        details: { description: 'For invalid_request: each problem with where it is (`in`), its `path` and `message`.' },
      },
    },
  },
};

const STANDARD_ERRORS: Record<number, string> = {
  400: 'The request is not valid: see error.details.',
  401: 'No session and no API key, or the key is malformed, revoked or expired.',
  429: 'Too many requests: wait for Retry-After seconds.',
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

/** Path and query parameters from a zod object schema. */
function parametersOf(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (schema === undefined) return [];
  const object = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: where,
      required: where === 'path' || (object.required ?? []).includes(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: propertySchema,
    };
  });
}

function responsesOf(route: ApiRoute): Record<string, JsonSchema> {
  const responses: Record<string, JsonSchema> = {};
  if (route.response === null) responses['204'] = { description: 'Done; no content.' };
  else if (route.response === 'binary') responses[String(route.status)] = { description: 'The file.', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } };
  else responses[String(route.status)] = { description: 'Success.', content: { 'application/json': { schema: jsonSchema(route.response, 'output') } } };

  const errors: Record<number, string> = { ...STANDARD_ERRORS };
  if (route.access === 'user') {
    if (!route.keys) errors[403] = 'API keys cannot call this; it needs a signed-in person.';
  } else {
    errors[403] = `The caller lacks the ${route.access.org} permission in this organisation.`;
    errors[404] = 'No such organisation or item, or the caller may not see it.';
  }
  Object.assign(errors, route.errors);
  for (const [status, description] of Object.entries(errors)) {
    responses[status] = { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  }
  return responses;
}

/** The OpenAPI 3.1 document of the API, built from the same route definitions the router mounts. */
export function openApiDocument(routes: readonly ApiRoute[], options: { version: string; serverUrl: string }): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const operation: JsonSchema = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description === undefined ? {} : { description: route.description }),
      tags: [route.tag],
      'x-permission': route.access === 'user' ? 'user' : route.access.org,
      parameters: [...parametersOf(route.params, 'path'), ...parametersOf(route.query, 'query')],
      responses: responsesOf(route),
      security: route.access === 'user' && !route.keys ? [{ session: [] }] : [{ apiKey: [] }, { session: [] }],
    };
    if (route.body === 'multipart') {
      operation.requestBody = {
        required: true,
        content: { 'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'array', items: { type: 'string', format: 'binary' } } } } } },
      };
    } else if (route.body !== undefined) {
      operation.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } };
    }
    (paths[route.path] ??= {})[route.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'DMARC Watch API',
      version: options.version,
      description: 'DMARC aggregate, SMTP TLS and failure reports, mailboxes, domains and organisations. Every error has the shape `{ "error": { "code", "message" } }`; lists are paged with `limit` and the `nextCursor` of the previous page.',
      license: { name: 'AGPL-3.0-only', identifier: 'AGPL-3.0-only' },
    },
    servers: [{ url: `${options.serverUrl}/api/v1` }],
    paths,
    components: {
      schemas: { Error: ERROR_SCHEMA },
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'An API key (`dmw_…`) created under Settings → API keys; its scope (read, write, admin) limits what it may do.' },
        session: { type: 'apiKey', in: 'cookie', name: '__Host-dmw_session', description: 'The browser session; unsafe methods also need the X-CSRF-Token header.' },
      },
    },
  };
}
