/**
 * zod's functional `zod/mini` API (zod v4, the same validation as the classic API) with the classic API's English
 * messages. Import it as a namespace, `import * as z from '../domain/zod-mini.ts'`: bundlers then keep only the
 * schemas and checks used (about 25 KB), where the classic API, or zod's own `{ z }` export, keeps all of zod and
 * every locale (about 440 KB) in each Lambda bundle.
 */
import { config } from 'zod/mini';
import { en } from 'zod/locales';

// zod/mini loads no locale (every issue would read "Invalid input"); answers and logs keep the classic wording.
config(en());

export * from 'zod/mini';
