/**
 * `npm run upgrade:check [-- deployed.json]`: what CloudFormation would refuse, or what data would be lost, updating
 * the stack deployed from `deployed.json` (by default the last release's template, release/AgentPipeline.template.json)
 * to the template synthesized from this checkout; exits 1 if anything. `npm run release:baseline` writes this
 * checkout's template as the last release's (docs/OPERATIONS.md, "Upgrading a deployed stack").
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { synthesizeTemplate } from '../local/template.ts';
import { RELEASE_TEMPLATE, upgradeRefusals } from './upgrade-refusals.ts';

const { values, positionals } = parseArgs({
  options: { 'write-baseline': { type: 'boolean', default: false } },
  allowPositionals: true,
});
const next = await synthesizeTemplate();
if (values['write-baseline']) {
  await writeFile(RELEASE_TEMPLATE, `${JSON.stringify(next, null, 1)}\n`);
  console.log(`Wrote ${RELEASE_TEMPLATE}`);
} else {
  const deployedFile = positionals[0] ?? RELEASE_TEMPLATE;
  const refusals = upgradeRefusals(JSON.parse(await readFile(deployedFile, 'utf8')), next);
  for (const { logicalId, type, reason } of refusals) console.error(`${logicalId} (${type}): ${reason}`);
  console.log(
    refusals.length === 0
      ? `An update from ${deployedFile} to this checkout's template: nothing refused, no data-holding resource replaced.`
      : `${refusals.length} change(s) above would be refused or lose data: see docs/OPERATIONS.md, "Upgrading a deployed stack".`,
  );
  process.exitCode = refusals.length === 0 ? 0 : 1;
}
