// Calls every route of the admin API through a client generated from /docs/json.
//
// `./schema.js` does not exist in the repository: openapi.e2e-spec.ts generates it from the running
// app's /docs/json (openapi-typescript) into a temporary folder, copies this file beside it and
// type-checks them with tsc (so this file is left out of the project's own tsconfig, and the test
// imports it by a path tsc does not follow). The fields
// read below must therefore exist, with these types, in the documented response schemas.
import type { Client } from 'openapi-fetch';
import type { Fixtures } from './fixtures.js';
import type { paths } from './schema.js';

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a 2xx answer; anything else is a failure naming the call. */
function ok<T>(what: string, answer: Answer<T>): T {
  if (!answer.response.ok || answer.data === undefined) {
    throw new Error(`${what} answered ${answer.response.status}: ${JSON.stringify(answer.error)}`);
  }
  return answer.data;
}

/** Every operation of the API once at least, in an order where each has real data to answer with. */
export async function callEveryRoute(api: Client<paths>, f: Fixtures): Promise<void> {
  const live = ok('live', await api.GET('/health/live'));
  if (live.status !== 'ok') throw new Error(`live: ${live.status}`);
  const ready = ok('ready', await api.GET('/health/ready'));
  if (ready.status !== 'ok') throw new Error(`ready: ${ready.status}`);

  const parent = ok('enqueue', await api.POST('/api/tasks', { body: { func: 'oa.work', args: { n: 1 }, collection: 'oa', queueNow: false } }));
  const child = ok(
    'enqueue with a dependency',
    await api.POST('/api/tasks', { body: { func: 'oa.work', args: { n: 2 }, collection: 'oa', dependsOn: { input: parent.id }, priority: 3, queueNow: false } }),
  );
  if (!child.created) throw new Error('the child task was not created');

  const first = ok('list', await api.GET('/api/tasks', { params: { query: { collection: 'oa', status: ['pending'], sort: 'id', order: 'asc', limit: 1 } } }));
  if (first.items.length !== 1 || first.nextCursor === null) throw new Error('list: expected a first page of one with a next cursor');
  const second = ok('list, next page', await api.GET('/api/tasks', { params: { query: { collection: 'oa', sort: 'id', order: 'asc', limit: 1, cursor: first.nextCursor } } }));
  if (second.items[0]?.id !== child.id) throw new Error('list: the second page is not the child');

  const detail = ok('inspect', await api.GET('/api/tasks/{id}', { params: { path: { id: child.id } } }));
  if (detail.task.func !== 'oa.work' || detail.dependencies[0]?.name !== 'input' || detail.dependencyCount !== 1) throw new Error('inspect: not the child');
  const graph = ok('graph', await api.GET('/api/tasks/{id}/graph', { params: { path: { id: child.id }, query: { depth: 2 } } }));
  if (graph.nodes.length !== 2 || graph.edges[0]?.prev !== parent.id) throw new Error('graph: not parent -> child');
  const progress = ok('progress', await api.GET('/api/tasks/{id}/progress', { params: { path: { id: child.id }, query: { of: 'dependencies' } } }));
  if (progress.total !== 1) throw new Error('progress: the child waits for one task');

  const cancelled = ok('cancel one', await api.POST('/api/tasks/{id}/cancel', { params: { path: { id: child.id } } }));
  if (cancelled.previous !== 'pending') throw new Error(`cancel one: was ${cancelled.previous}`);
  ok('retry one, with a body', await api.POST('/api/tasks/{id}/retry', { params: { path: { id: child.id } }, body: { resetFailCount: true } }));
  ok('retry one, without one', await api.POST('/api/tasks/{id}/retry', { params: { path: { id: parent.id } } }));

  const dryRetry = ok('retry by filter, dry run', await api.POST('/api/tasks/retry', { body: { collection: f.retryCollection, dryRun: true } }));
  if (!('matching' in dryRetry) || dryRetry.matching === 0) throw new Error('retry by filter: nothing to retry');
  const retried = ok('retry by filter', await api.POST('/api/tasks/retry', { body: { collection: f.retryCollection, status: ['error'], olderThanSeconds: 60 } }));
  if (!('reset' in retried) || retried.reset !== dryRetry.matching) throw new Error('retry by filter: not what the dry run counted');

  const dryCancel = ok('cancel by filter, dry run', await api.POST('/api/tasks/cancel', { body: { collection: f.cancelCollection, dryRun: true } }));
  const cancelledMany = ok('cancel by filter', await api.POST('/api/tasks/cancel', { body: { collection: f.cancelCollection } }));
  if (!('matching' in dryCancel) || !('cancelled' in cancelledMany) || cancelledMany.cancelled !== dryCancel.matching) throw new Error('cancel by filter');

  const dryPurge = ok('purge, dry run', await api.DELETE('/api/tasks', { params: { query: { collection: f.purgeCollection, olderThanSeconds: 60, dryRun: true } } }));
  const purged = ok('purge', await api.DELETE('/api/tasks', { params: { query: { collection: f.purgeCollection, olderThanSeconds: 60, status: ['error'] } } }));
  if (!('matching' in dryPurge) || !('deleted' in purged) || purged.deleted !== dryPurge.matching) throw new Error('purge');

  const schedule = ok('schedule add', await api.POST('/api/schedules', { body: { name: 'oa-every-hour', func: 'oa.work', cron: '0 * * * *', tz: 'UTC', args: { n: 3 } } }));
  if (schedule.source !== 'api' || schedule.lastRun !== null) throw new Error('schedule add: not a new api schedule');
  const schedules = ok('schedules', await api.GET('/api/schedules'));
  if (!schedules.items.some((s) => s.name === 'oa-every-hour')) throw new Error('schedules: oa-every-hour is missing');
  const one = ok('schedule', await api.GET('/api/schedules/{name}', { params: { path: { name: 'oa-every-hour' } } }));
  if (Date.parse(one.nextRun) <= Date.now()) throw new Error('schedule: next run is not ahead');
  ok('schedule remove', await api.DELETE('/api/schedules/{name}', { params: { path: { name: 'oa-every-hour' } } }));
  const lone = ok('enqueue a task to delete', await api.POST('/api/tasks', { body: { func: 'oa.work', args: { n: 4 }, collection: 'oa', queueNow: false } }));
  const deleted = ok('delete by identity', await api.POST('/api/tasks/delete', { body: { func: 'oa.work', args: { n: 4 }, collection: 'oa' } }));
  if (deleted.id !== lone.id) throw new Error('delete by identity: not that task');
  const later = ok('enqueue a task for later', await api.POST('/api/tasks', { body: { func: 'oa.work', args: { n: 5 }, collection: 'oa', runAfter: '2099-01-01T00:00:00Z' } }));
  const moved = ok('reschedule', await api.PATCH('/api/tasks/{id}/run-after', { params: { path: { id: later.id } }, body: { runAfter: '2098-01-01T00:00:00Z' } }));
  if (moved.id !== later.id || !moved.runAfter.startsWith('2098-01-01')) throw new Error(`reschedule: ${JSON.stringify(moved)}`);
  const removed = ok('remove a waiting task', await api.DELETE('/api/tasks/{id}', { params: { path: { id: later.id } } }));
  if (removed.id !== later.id || !removed.removed) throw new Error('remove a waiting task: not that task');

  const queues = ok('queues', await api.GET('/api/queues'));
  if (!queues.funcs.some((q) => q.func === 'oa.work')) throw new Error('queues: oa.work is missing');
  const collections = ok('collections', await api.GET('/api/collections'));
  if (!collections.items.some((c) => c.name === f.searchCollection)) throw new Error('collections: the pipeline collection is missing');
  const stats = ok('collection stats', await api.GET('/api/collections/{name}/stats', { params: { path: { name: f.searchCollection } } }));
  if (stats.stats === null) throw new Error('collection stats: none saved');
  const patched = ok('collection update', await api.PATCH('/api/collections/{name}', { params: { path: { name: 'oa' } }, body: { sync: true } }));
  if (!patched.sync) throw new Error('collection update: sync is not on');

  const audit = ok('audit', await api.GET('/api/audit', { params: { query: { limit: 2 } } }));
  if (audit.items.length !== 2 || audit.nextCursor === null) throw new Error('audit: expected a page of two with more');
  ok('audit, next page', await api.GET('/api/audit', { params: { query: { limit: 2, cursor: audit.nextCursor, action: 'task.enqueue' } } }));

  const metrics = ok('metrics', await api.GET('/metrics', { parseAs: 'text' }));
  if (!metrics.includes('laterz_')) throw new Error('metrics: no laterz_ metric');

  const found = ok('search', await api.GET('/api/collections/{name}/search', { params: { path: { name: f.searchCollection }, query: { q: f.searchWords, limit: 5 } } }));
  if (found.hits.length === 0 || found.hits[0].paths.length === 0) throw new Error('search: no hit');
  const files = ok('files', await api.GET('/api/collections/{name}/files', { params: { path: { name: f.searchCollection }, query: { path: f.folder, limit: 50 } } }));
  if (!files.entries.some((e) => e.kind === 'file' && e.size !== null)) throw new Error('files: no file');
}
