import type { Server } from 'node:http';
import type { Pool } from 'pg';
import request from 'supertest';
import type { Test } from 'supertest';
import { TEST_TOKENS, TestApp } from '../helpers/test-app.js';

export type Method = 'get' | 'post' | 'patch' | 'delete';

/** A request as the given token (none: anonymous). */
export interface As {
  get(path: string): Test;
  post(path: string, body?: unknown): Test;
  patch(path: string, body?: unknown): Test;
  delete(path: string): Test;
  call(method: Method, path: string, body?: unknown): Test;
}

function as(server: Server, token: string | undefined): As {
  const call = (method: Method, path: string, body?: unknown) => {
    const req = request(server)[method](path);
    if (token !== undefined) req.set('Authorization', `Bearer ${token}`);
    return body === undefined ? req : req.send(body as object);
  };
  return {
    get: (path) => call('get', path),
    post: (path, body) => call('post', path, body),
    patch: (path, body) => call('patch', path, body),
    delete: (path) => call('delete', path),
    call,
  };
}

/** Clients of an app's HTTP server as an operator, a viewer and nobody. */
export function clients(app: TestApp) {
  const server = app.app.getHttpServer() as Server;
  return { server, op: as(server, TEST_TOKENS.operator), viewer: as(server, TEST_TOKENS.viewer), anon: as(server, undefined), with: (token: string) => as(server, token) };
}

/**
 * Everything a request could have written: row counts of every engine table and a digest of the
 * task rows' state and of the collections' flags. Equal before and after means nothing was written.
 */
export async function snapshot(db: Pool): Promise<Record<string, string | number>> {
  const { rows } = await db.query(`
    SELECT (SELECT count(*) FROM task)::int AS tasks,
           (SELECT count(*) FROM task_dependency)::int AS edges,
           (SELECT count(*) FROM task_attempt)::int AS attempts,
           (SELECT count(*) FROM audit_log)::int AS audit,
           (SELECT count(*) FROM collection)::int AS collections,
           (SELECT count(*) FROM collection_stats)::int AS stats,
           (SELECT coalesce(md5(string_agg(concat_ws('|', id, status, attempt, fail_count, date_modified, error, broken_reason), ',' ORDER BY id)), '') FROM task) AS task_digest,
           (SELECT coalesce(md5(string_agg(concat_ws('|', name, process, sync), ',' ORDER BY name)), '') FROM collection) AS collection_digest`);
  return rows[0];
}

export interface RegisteredRoute {
  method: Method | 'head' | 'put' | 'options';
  /** Express's pattern, e.g. `/api/tasks/:id/retry`. */
  path: string;
}

/** Every route the app's Express router has registered (Nest's and Swagger's; wildcards left out). */
export function registeredRoutes(app: TestApp): RegisteredRoute[] {
  interface RouteLayer {
    route?: { path: string; methods: Record<string, boolean> };
  }
  const router = (app.app.getHttpAdapter().getInstance() as { router: { stack: RouteLayer[] } }).router;
  return router.stack
    .filter((l) => l.route && !/[*{]/.test(l.route.path))
    .flatMap((l) => Object.keys(l.route!.methods).map((method) => ({ method: method as RegisteredRoute['method'], path: l.route!.path })));
}

/** A concrete path for a route pattern (`:id` -> `id`, `:name` -> `name`, anything else -> x). */
export function concretePath(path: string, values: { id?: string; name?: string } = {}): string {
  return path.replace(/:id\b/g, values.id ?? '1').replace(/:name\b/g, values.name ?? 'default').replace(/:\w+/g, 'x');
}
