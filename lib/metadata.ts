/**
 * Names the stack writes into the template and the local runtime and the tests read back: the metadata keys that map
 * resources to their source files, and the repository-relative ASL files. No CDK import, so `local/` can use it.
 */

/** Metadata key on a function resource naming its handler file, e.g. `lambdas/fanout/handler.ts`. */
export const ENTRY_METADATA_KEY = 'agent-pipeline:entry';

/** Metadata key on a state machine resource naming its ASL file (the definition itself is an S3 asset). */
export const DEFINITION_METADATA_KEY = 'agent-pipeline:definition';

/** The provisioning state machine's ASL. */
export const PROVISION_ASL_PATH = 'state-machines/provision.asl.json';

/** The lifecycle (stop, start, destroy) state machine's ASL. */
export const LIFECYCLE_ASL_PATH = 'state-machines/lifecycle.asl.json';
