/**
 * Serves the built dashboard: files by path with their content type, and `index.html` for any other path without a
 * file extension (client-side routes of the single-page app).
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { GatewayHttpResponse } from './http-events.ts';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Answers a GET for `path` from `rootDir`, or `undefined` when there is nothing to serve. */
export async function serveStatic(rootDir: string, path: string): Promise<GatewayHttpResponse | undefined> {
  const root = resolve(rootDir);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return undefined;
  }
  const candidate = resolve(root, `.${normalize(decoded)}`);
  // `normalize` resolves `..`, but a path must never leave the root, whatever the encoding tricks.
  if (candidate !== root && !candidate.startsWith(root + sep)) return undefined;

  const file = (await isFile(candidate)) ? candidate : undefined;
  if (file) return fileResponse(file);
  if (extname(decoded) !== '') return undefined;
  const index = join(root, 'index.html');
  return (await isFile(index)) ? fileResponse(index) : undefined;
}

async function fileResponse(file: string): Promise<GatewayHttpResponse> {
  const extension = extname(file).toLowerCase();
  const headers: Record<string, string> = { 'content-type': CONTENT_TYPES[extension] ?? 'application/octet-stream' };
  // The entry page names the hashed bundles: a cached copy would pin an old build.
  if (extension === '.html') headers['cache-control'] = 'no-store';
  return { statusCode: 200, headers, body: await readFile(file) };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
