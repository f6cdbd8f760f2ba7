/**
 * The S3 bucket origin, answering CloudFront's signed (origin access control) GET and HEAD as S3 does: the object with
 * the content type the deployment stored, or, for a key that does not exist, 403 `AccessDenied` when the bucket policy
 * does not grant CloudFront `s3:ListBucket` (S3 will not say whether the key exists) and 404 `NoSuchKey` when it does.
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions";
 * https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html)
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';

/** What a deployment wrote into a bucket: the files of a directory (keys are their relative paths) and single objects. */
export interface BucketContents {
  /** Synced as `aws s3 sync` does (the dashboard build); absent when it was not built. */
  readonly directory?: string;
  /** Objects by key (`config.json`), as `Source.jsonData` writes them; they take precedence over the directory. */
  readonly objects?: Readonly<Record<string, string>>;
}

/** An answer of the origin to CloudFront. */
export interface OriginResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

/**
 * The content types `aws s3 sync` (the BucketDeployment's) guesses from the extension (Python's `mimetypes`); an
 * unknown extension is stored without one, which S3 serves as `binary/octet-stream`.
 */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/vnd.microsoft.icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain',
};

export interface S3Origin {
  /** GET or HEAD of the object at `uri` (`/assets/app.js` -> key `assets/app.js`). */
  get(
    method: 'GET' | 'HEAD',
    uri: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
  ): Promise<OriginResponse>;
}

export function s3Origin(contents: BucketContents, { listBucketAllowed }: { listBucketAllowed: boolean }): S3Origin {
  const objects = contents.objects ?? {};
  // Objects given by value were "uploaded" when the origin was made.
  const started = new Date();
  const root = contents.directory === undefined ? undefined : resolve(contents.directory);
  const find = async (key: string): Promise<{ body: Buffer; modified: Date } | undefined> => {
    const object = objects[key];
    if (object !== undefined) return { body: Buffer.from(object), modified: started };
    if (root === undefined || key === '' || key.endsWith('/')) return undefined;
    const file = resolve(root, key);
    // A key is a name, not a path: one that would leave the synced directory was never uploaded.
    if (!file.startsWith(root + sep)) return undefined;
    try {
      const info = await stat(file);
      return info.isFile() ? { body: await readFile(file), modified: info.mtime } : undefined;
    } catch {
      return undefined;
    }
  };

  return {
    async get(method, uri, headers) {
      let key: string;
      try {
        key = decodeURIComponent(uri.replace(/^\//, ''));
      } catch {
        key = uri.replace(/^\//, '');
      }
      const found = await find(key);
      if (found === undefined) {
        const answer = listBucketAllowed
          ? s3Error(404, 'NoSuchKey', 'The specified key does not exist.', key)
          : s3Error(403, 'AccessDenied', 'Access Denied');
        return method === 'HEAD' ? { ...answer, body: Buffer.alloc(0) } : answer;
      }
      const etag = `"${createHash('md5').update(found.body).digest('hex')}"`;
      const validators = { etag, 'last-modified': found.modified.toUTCString(), server: 'AmazonS3' };
      if (headers['if-none-match'] === etag) return { statusCode: 304, headers: validators, body: Buffer.alloc(0) };
      return {
        statusCode: 200,
        headers: {
          ...validators,
          'content-type': CONTENT_TYPES[extname(key).toLowerCase()] ?? 'binary/octet-stream',
          'content-length': String(found.body.length),
          'accept-ranges': 'bytes',
        },
        body: method === 'HEAD' ? Buffer.alloc(0) : found.body,
      };
    },
  };
}

function s3Error(statusCode: number, code: string, message: string, key?: string): OriginResponse {
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  const hostId = randomBytes(48).toString('base64');
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message>${key === undefined ? '' : `<Key>${escapeXml(key)}</Key>`}` +
    `<RequestId>${requestId}</RequestId><HostId>${hostId}</HostId></Error>`;
  return {
    statusCode,
    headers: {
      'content-type': 'application/xml',
      'x-amz-request-id': requestId,
      'x-amz-id-2': hostId,
      server: 'AmazonS3',
    },
    body: Buffer.from(body),
  };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (character) => `&#${character.charCodeAt(0)};`);
}
