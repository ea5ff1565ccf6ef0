import fs from 'node:fs';
import path from 'node:path';
import { PUBLIC_URL, type Harness } from '../auth/harness.js';
import type { ApiCaller, ApiResponse } from './harness.js';

export const CORPUS = path.resolve(import.meta.dirname, '../fixtures/corpus');

/** Real sample reports from the corpus (see its MANIFEST.tsv). */
export const SAMPLES = {
  /** Aggregate XML, Test Inc. for test.net, 2 records (5 passing, 2 failing DMARC). */
  xml: 'dmarc-report-converter/test.xml',
  /** The same report gzip-compressed (identical document bytes). */
  xmlGz: 'dmarc-report-converter/test.xml.gz',
  /** Aggregate XML in gzip, comcast.net for secure.200permits.com. */
  gz: 'DMARC-Report-Manager/comcast.net!secure.200permits.com!1768953600!1769040000.xml.gz',
  /** Aggregate XML in a zip, google.com for bluesun.net. */
  zip: 'DMARC-Report-Manager/google.com!bluesun.net!1766102400!1766188799.zip',
  /** SMTP TLS report, Google Inc. */
  tls: 'dmarc-report-viewer/google.json',
  /** DMARC failure report (ARF). */
  arf: 'set-of-emails/arf-18.eml',
  /** An aggregate report (gzip) inside a mail. */
  eml: 'dmarc-report-aggregator/google.eml',
} as const;

export function sample(relative: string): Buffer {
  return fs.readFileSync(path.join(CORPUS, relative));
}

export interface UploadPart {
  name: string;
  bytes: Uint8Array;
}

export function part(relative: string): UploadPart {
  return { name: path.basename(relative), bytes: sample(relative) };
}

/** POSTs files as multipart/form-data parts named `file`, as a key or a signed-in browser (with its CSRF token). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function upload<T = any>(h: Harness, caller: ApiCaller, slug: string, files: UploadPart[], options: { field?: string } = {}): Promise<ApiResponse<T>> {
  const form = new FormData();
  for (const file of files) form.append(options.field ?? 'file', new Blob([new Uint8Array(file.bytes)]), file.name);
  const url = `/api/v1/orgs/${slug}/reports/upload`;
  const headers: Record<string, string> = { accept: 'application/json' };
  let response: Response;
  if ('browser' in caller) {
    if (caller.browser.csrf === null) await caller.browser.get('/settings/security');
    headers.origin = PUBLIC_URL;
    headers['x-csrf-token'] = caller.browser.csrf ?? '';
    response = await caller.browser.request(url, { method: 'POST', headers, body: form });
  } else {
    if ('key' in caller) headers.authorization = `Bearer ${caller.key}`;
    response = await h.app.request(`${PUBLIC_URL}${url}`, { method: 'POST', headers, body: form }, { incoming: { socket: { remoteAddress: '198.51.100.7' } } });
  }
  const text = await response.text();
  const body = (response.headers.get('content-type') ?? '').includes('json') && text !== '' ? JSON.parse(text) : text;
  return { status: response.status, body: body as T, headers: response.headers };
}

/** A GET whose body is read as bytes (downloads). */
export async function download(h: Harness, key: string, apiPath: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const response = await h.app.request(`${PUBLIC_URL}/api/v1${apiPath}`, { headers: { authorization: `Bearer ${key}`, ...headers } }, { incoming: { socket: { remoteAddress: '198.51.100.7' } } });
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()), headers: response.headers };
}
