import type { Context } from 'hono';
import type { WebEnv } from '../http/env.js';
import { renderPage } from '../web/layout.js';
import type { ApiRoute } from './define.js';

type JsonSchema = Record<string, unknown>;

interface Operation {
  method: string;
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  'x-permission': string;
  parameters: Array<{ name: string; in: string; required: boolean; description?: string; schema: JsonSchema }>;
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: JsonSchema }> }>;
}

const PERMISSION_TEXT: Record<string, string> = {
  user: 'a signed-in person',
  read: 'read: any member or key',
  write: 'write: member role or write key and above',
  admin: 'admin: admin role or admin key',
};

function typeOf(schema: JsonSchema): string {
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[]).map((v) => JSON.stringify(v)).join(' | ');
  if (typeof schema.type === 'string') return schema.format ? `${schema.type} (${String(schema.format)})` : schema.type;
  if (Array.isArray(schema.type)) return (schema.type as string[]).join(' | ');
  return 'any';
}

function operationsOf(document: JsonSchema): Operation[] {
  const paths = document.paths as Record<string, Record<string, Omit<Operation, 'method' | 'path'>>>;
  return Object.entries(paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ ...operation, method, path })));
}

function Schema(props: { schema: JsonSchema | undefined }) {
  if (!props.schema) return null;
  return <pre class="schema">{JSON.stringify(props.schema, null, 2)}</pre>;
}

/** The API reference as a page: every operation of the OpenAPI document, grouped by tag. */
export function renderApiReference(c: Context<WebEnv>, document: JsonSchema, routes: readonly ApiRoute[]) {
  const operations = operationsOf(document);
  const tags = [...new Set(routes.map((route) => route.tag))];
  return renderPage(
    c,
    'API reference',
    <>
      <h1>API reference</h1>
      <p>
        Base URL <code>{(document.servers as Array<{ url: string }>)[0]?.url}</code>. Authenticate with an API key (<code>Authorization: Bearer dmw_…</code>,
        created under Settings → API keys) or a browser session (unsafe methods also need the <code>X-CSRF-Token</code> header). Errors are always{' '}
        <code>{'{ "error": { "code", "message" } }'}</code>; lists take <code>limit</code> and <code>cursor</code> and return <code>nextCursor</code>. The machine-readable
        document is <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI 3.1).
      </p>
      <nav aria-label="API sections">
        <ul>
          {tags.map((tag) => (
            <li>
              <a href={`#${tag.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`}>{tag}</a>
            </li>
          ))}
        </ul>
      </nav>
      {tags.map((tag) => (
        <section id={tag.toLowerCase().replace(/[^a-z0-9]+/g, '-')}>
          <h2>{tag}</h2>
          {operations
            .filter((operation) => operation.tags.includes(tag))
            .map((operation) => {
              const success = Object.entries(operation.responses).find(([status]) => status.startsWith('2'));
              const errors = Object.entries(operation.responses).filter(([status]) => !status.startsWith('2'));
              const body = operation.requestBody ? Object.entries(operation.requestBody.content)[0] : undefined;
              return (
                <article class="operation" id={operation.operationId}>
                  <h3>
                    <code>
                      {operation.method.toUpperCase()} {operation.path}
                    </code>
                  </h3>
                  <p>{operation.summary}</p>
                  {operation.description ? <p>{operation.description}</p> : null}
                  <p class="muted">Needs {PERMISSION_TEXT[operation['x-permission']] ?? operation['x-permission']}.</p>
                  {operation.parameters.length > 0 ? (
                    <table>
                      <caption>Parameters</caption>
                      <thead>
                        <tr>
                          <th scope="col">Name</th>
                          <th scope="col">In</th>
                          <th scope="col">Type</th>
                          <th scope="col">Description</th>
                        </tr>
                      </thead>
                      <tbody>
                        {operation.parameters.map((parameter) => (
                          <tr>
                            <td>
                              <code>{parameter.name}</code>
                              {parameter.required ? ' (required)' : ''}
                            </td>
                            <td>{parameter.in}</td>
                            <td>{typeOf(parameter.schema)}</td>
                            <td>{parameter.description ?? ''}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  ) : null}
                  {body ? (
                    <details>
                      <summary>Request body ({body[0]})</summary>
                      <Schema schema={body[1].schema} />
                    </details>
                  ) : null}
                  {success ? (
                    <details>
                      <summary>
                        Response {success[0]}: {success[1].description}
                      </summary>
                      <Schema schema={success[1].content ? Object.values(success[1].content)[0]?.schema : undefined} />
                    </details>
                  ) : null}
                  <ul class="errors">
                    {errors.map(([status, response]) => (
                      <li>
                        <code>{status}</code> {response.description}
                      </li>
                    ))}
                  </ul>
                </article>
              );
            })}
        </section>
      ))}
    </>,
  );
}
