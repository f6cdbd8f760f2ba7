/**
 * The dashboard as the stack deploys it: built by Vite while CDK stages the asset (local bundling), so `cdk synth` and
 * `cdk deploy` from a fresh clone ship the app with no build step of the operator's own. `frontend/dist` (what
 * `npm start` serves) plays no part: a stale or missing one cannot be deployed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AssetHashType, BundlingOutput, DockerImage, type ILocalBundling } from 'aws-cdk-lib';
import { type ISource, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { fromRepoRoot, repoRoot } from './paths.ts';

/** Vite's command line, run with the Node that runs the CDK app (the project's, not whatever `vite` is on PATH). */
const VITE_CLI = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin', 'vite.js');

/** Runs `vite build` of `frontend/` into CDK's bundling directory. */
class ViteBuild implements ILocalBundling {
  tryBundle(outputDir: string): boolean {
    const args = ['build', '--config', fromRepoRoot('frontend/vite.config.ts'), '--outDir', outputDir, '--emptyOutDir'];
    // Vite's output goes to stderr: `cdk synth` prints the template on stdout.
    const result = spawnSync(process.execPath, [VITE_CLI, ...args, '--logLevel', 'warn'], {
      cwd: repoRoot,
      stdio: ['ignore', 2, 2],
    });
    if (result.status !== 0 || !existsSync(join(outputDir, 'index.html'))) {
      throw new Error(
        `Building the dashboard failed (vite ${args.join(' ')}: ${result.error?.message ?? `exit ${result.status}`}); \`npm run build:frontend\` runs the same build and shows why`,
      );
    }
    return true;
  }
}

/**
 * The built dashboard as a deployment source. Hashed by its output, so a change anywhere the app imports (`frontend/`,
 * `lambdas/domain/`) deploys, and an unchanged build does not. When bundling is skipped (in-process synthesis: the
 * tests, the local runtime) CDK stages the source folder instead, and nothing is built.
 */
export function dashboardBuild(): ISource {
  return Source.asset(fromRepoRoot('frontend'), {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      local: new ViteBuild(),
      outputType: BundlingOutput.NOT_ARCHIVED,
      // Required by the type, never used: the local build either succeeds or throws, so CDK never falls back to Docker.
      image: DockerImage.fromRegistry('local-bundling-only'),
    },
  });
}
