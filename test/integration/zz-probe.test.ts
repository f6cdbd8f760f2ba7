import { randomUUID } from 'node:crypto';
import { it, beforeAll } from 'vitest';
import { createTestTables } from '../support/tables.ts';
beforeAll(async () => { const t = await createTestTables(); process.env.TABLE_NAME = t.tableName; });
it('probe', async () => {
  const repo = await import('../../lambdas/shared/repository.ts');
  const { dynamo } = await import('../../lambdas/shared/clients.ts');
  const counts: Record<string, number> = {};
  const times: Record<string, number> = {};
  dynamo.middlewareStack.add((next, ctx) => async (args) => { const t = Date.now(); try { return await next(args); } catch (e: any) { counts[ctx.commandName + ':' + e.name + ':' + (e.CancellationReasons?.map((r: any) => r.Code).join('/') ?? '')] = (counts[ctx.commandName + ':' + e.name] ?? 0) + 1; throw e; } finally { times[ctx.commandName] = (times[ctx.commandName] ?? 0) + Date.now() - t; counts[ctx.commandName] = (counts[ctx.commandName] ?? 0) + 1; } }, { step: 'initialize' });
  dynamo.middlewareStack.add((next, ctx) => async (args) => { try { return await next(args); } catch (e: any) { counts['raw:' + e.name + ':' + e.$metadata?.attempts] = (counts['raw:' + e.name] ?? 0) + 1; throw e; } }, { step: 'deserialize' });
  const w = await import('../../lambdas/shared/job-writer.ts');
  const agent = await repo.createAgent({ userId: 'u1', name: 'x', region: 'fsn1' });
  const t0 = Date.now();
  const ev = 'evt_' + randomUUID();
  await Promise.all(Array.from({ length: 100 }, () => w.createJob({ agentId: agent.agentId, userId: 'u1', region: 'fsn1', stripeEventId: ev, actor: 's' })));
  process.stderr.write(`PROBE ${Date.now() - t0} ${JSON.stringify(counts)} ${JSON.stringify(times)}\n`);
}, 60000);
