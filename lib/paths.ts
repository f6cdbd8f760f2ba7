import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root, independent of the process working directory. */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Resolves a repository-relative path (`lambdas/fanout/handler.ts`) to an absolute one. */
export const fromRepoRoot = (relativePath: string): string =>
  fileURLToPath(new URL(`../${relativePath}`, import.meta.url));
