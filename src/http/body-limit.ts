import type { MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';

const KiB = 1024;
const MiB = 1024 * KiB;

export const FORM_BODY_LIMIT = 64 * KiB;
export const JSON_BODY_LIMIT = 1 * MiB;

/**
 * Caps request bodies by type before anything reads them: HTML forms (urlencoded) 64 KiB, JSON
 * 1 MiB, anything else — file uploads, raw reports — `otherMaxBytes` (DMARCWATCH_MAX_MAIL_SIZE).
 * Declared lengths are checked up front; chunked bodies are counted as they arrive.
 */
export function bodyLimit(options: { otherMaxBytes: number }): MiddlewareHandler {
  const tooLarge = (limit: number) =>
    honoBodyLimit({
      maxSize: limit,
      onError: (c) => c.json({ error: { code: 'payload_too_large', message: `The request body is larger than ${limit} bytes.` } }, 413),
    });
  const form = tooLarge(FORM_BODY_LIMIT);
  const json = tooLarge(JSON_BODY_LIMIT);
  const other = tooLarge(options.otherMaxBytes);
  return (c, next) => {
    // Nothing reads the body of these.
    if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.method === 'OPTIONS') return next();
    const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (type === 'application/x-www-form-urlencoded') return form(c, next);
    if (type === 'application/json' || type.endsWith('+json')) return json(c, next);
    return other(c, next);
  };
}
