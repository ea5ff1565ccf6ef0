import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import type { Logger } from '../lib/logger.js';

const TYPES: Record<string, string> = {
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  woff2: 'font/woff2',
};

interface Asset {
  body: Uint8Array;
  type: string;
  version: string;
}

// From src/ (tsx) the files sit next to this module's tree; `tsc` does not copy them, so compiled
// code in dist/src/ falls back to the checkout's src/web/assets.
const ASSET_DIR = [new URL('../web/assets/', import.meta.url), new URL('../../../src/web/assets/', import.meta.url)]
  .map((url) => fileURLToPath(url))
  .find((dir) => existsSync(dir)) ?? fileURLToPath(new URL('../web/assets/', import.meta.url));
let loaded: Map<string, Asset> | undefined;

function load(logger?: Logger): Map<string, Asset> {
  if (loaded) return loaded;
  const assets = new Map<string, Asset>();
  let names: string[] = [];
  try {
    names = readdirSync(ASSET_DIR);
  } catch (error) {
    logger?.error('web assets not found; pages will be unstyled', { dir: ASSET_DIR, error });
  }
  for (const name of names) {
    const type = TYPES[name.slice(name.lastIndexOf('.') + 1).toLowerCase()];
    if (!type || name.startsWith('.')) continue;
    const body = new Uint8Array(readFileSync(`${ASSET_DIR}${name}`));
    assets.set(name, { body, type, version: createHash('sha256').update(body).digest('hex').slice(0, 12) });
  }
  loaded = assets;
  return assets;
}

/** URL of an asset with its content hash, so it can be cached for a year and still change on upgrade. */
export function assetUrl(name: string): string {
  const asset = load().get(name);
  return asset ? `/assets/${name}?v=${asset.version}` : `/assets/${name}`;
}

/** GET /<name> for files in src/web/assets (read once at start); mount under /assets. */
export function assetRoutes(logger: Logger): Hono {
  const assets = load(logger);
  const app = new Hono();
  app.get('/:name', (c) => {
    const asset = assets.get(c.req.param('name'));
    if (!asset) return c.json({ error: { code: 'not_found', message: 'No such asset' } }, 404);
    return c.body(asset.body.slice().buffer, 200, {
      'Content-Type': asset.type,
      'Cache-Control': 'public, max-age=31536000, immutable',
    });
  });
  return app;
}
