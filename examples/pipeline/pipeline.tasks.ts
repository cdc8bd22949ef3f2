import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { open, readdir, readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { type BulkTask, type TaskContext, TaskBroken, TaskHandler, type TaskId, TasksService, TIERS_RETRY } from '../../src/index.js';
import { CollectionRoots } from './collection-roots.js';
import { PipelinePools } from './pipeline-pools.js';
import { INDEX_DOCUMENTS, PATH_OF_BLOB, rows, UPSERT_BLOB_TEXT, UPSERT_DIRS, UPSERT_FILE_BLOB } from './sql/pipeline.sql.js';
import { extractText, sniffMime } from './text-extract.js';

export interface DigestResult {
  sha256: string;
  size: number;
  mime: string;
  path: string;
}

const MAGIC_BYTES = 4100;

/**
 * The reference pipeline, Hoover-style: walk a folder, digest every file (identical content is one
 * blob), extract its text once per content, and index it in bulk for full-text search.
 */
@Injectable()
export class PipelineTasks {
  constructor(
    private readonly tasks: TasksService,
    private readonly roots: CollectionRoots,
    private readonly pools: PipelinePools,
  ) {}

  /** Lists a folder: a walk per sub-folder, a digest per file. Re-run on `sync` collections to pick up new files. */
  @TaskHandler('filesystem.walk', { version: 1, queue: 'filesystem', resync: '60s', timeout: '5m', retry: TIERS_RETRY })
  async walk(args: { dir: string }, _deps: unknown, ctx: TaskContext) {
    const root = await this.roots.of(ctx.collection);
    const dir = args.dir ?? '';
    let entries;
    try {
      entries = await readdir(CollectionRoots.inside(root, dir), { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new TaskBroken('folder_missing', `folder ${JSON.stringify(dir)} is gone`);
      throw err;
    }
    const dirs = entries.filter((e) => e.isDirectory()).map((e) => posix.join(dir, e.name));
    const files = entries.filter((e) => e.isFile()).map((e) => posix.join(dir, e.name));
    if (dirs.length > 0) await rows(this.pools.work, UPSERT_DIRS, [ctx.collection, dirs, dirs.map(() => dir)]);
    await this.tasks.enqueueMany([
      ...dirs.map((d) => ({ func: 'filesystem.walk', args: { dir: d }, collection: ctx.collection })),
      ...files.map((f) => ({ func: 'digests.digest', args: { path: f }, collection: ctx.collection })),
    ]);
    ctx.logger.info(`${dir || '/'}: ${dirs.length} folders, ${files.length} files`);
    return { dirs: dirs.length, files: files.length };
  }

  /** sha256, size and MIME type (magic bytes); identical content becomes one blob and one extraction. */
  @TaskHandler('digests.digest', { version: 1, queue: 'digests', timeout: '10m', retry: TIERS_RETRY })
  async digest(args: { path: string }, _deps: unknown, ctx: TaskContext): Promise<DigestResult> {
    const root = await this.roots.of(ctx.collection);
    const full = CollectionRoots.inside(root, args.path);
    let handle;
    try {
      handle = await open(full, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TaskBroken('file_missing', `file ${JSON.stringify(args.path)} is gone`);
      throw err;
    }
    const hash = createHash('sha256');
    let size = 0;
    let head = Buffer.alloc(0);
    try {
      for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20 })) {
        const buf = chunk as Buffer;
        hash.update(buf);
        if (head.length < MAGIC_BYTES) head = Buffer.concat([head, buf.subarray(0, MAGIC_BYTES - head.length)]);
        size += buf.length;
      }
    } finally {
      await handle.close().catch(() => undefined);
    }
    const sha256 = hash.digest('hex');
    const mime = await sniffMime(head, args.path);
    const [{ new_blob: newBlob }] = await rows<{ new_blob: boolean }>(this.pools.work, UPSERT_FILE_BLOB, [
      ctx.collection,
      args.path,
      sha256,
      posix.dirname(args.path) === '.' ? '' : posix.dirname(args.path),
      size,
      mime,
    ]);
    // The digest that found new content makes the extraction wait for it (pending, queued by this
    // task's finish): one claim, one run. A copy's digest only makes sure the extraction exists: an
    // edge from it would re-run the extraction of content already extracted.
    if (newBlob) await ctx.enqueue('text.extract', { blob: sha256 }, { dependsOn: { digest: ctx.taskId }, queueNow: false });
    else await ctx.enqueue('text.extract', { blob: sha256 }, { queueNow: false });
    return { sha256, size, mime, path: args.path };
  }

  /** The text of one blob; pulls the digest in through requireDependency. */
  @TaskHandler('text.extract', { version: 1, queue: 'text', timeout: '2m', retry: TIERS_RETRY })
  async extract(args: { blob: string }, _deps: unknown, ctx: TaskContext) {
    const digest = (await ctx.requireDependency('digest', async () => {
      const [row] = await rows<{ path: string }>(this.pools.work, PATH_OF_BLOB, [ctx.collection, args.blob]);
      if (!row) throw new TaskBroken('blob_unknown', `no file of collection "${ctx.collection}" has content ${args.blob}`);
      return ctx.enqueue('digests.digest', { path: row.path });
    })) as DigestResult;
    const root = await this.roots.of(ctx.collection);
    const data = await readFile(CollectionRoots.inside(root, digest.path));
    const text = await extractText(data, digest.mime);
    await rows(this.pools.work, UPSERT_BLOB_TEXT, [args.blob, text, text.length]);
    await ctx.enqueue('search.index', { blob: args.blob }, { dependsOn: { text: ctx.taskId }, sizeBytes: Buffer.byteLength(text) });
    return { chars: text.length, mime: digest.mime };
  }

  /** Writes a batch of extracted texts into the collection's full-text index. */
  @TaskHandler('search.index', { version: 1, bulk: true, queue: 'search', timeout: '5m' })
  async index(batch: BulkTask[]): Promise<Map<TaskId, boolean>> {
    const items = batch.map((t) => ({ id: t.id, collection: t.collection, blob: (t.args as { blob: string }).blob }));
    const indexed = await rows<{ collection: string; blob: string }>(this.pools.work, INDEX_DOCUMENTS, [
      items.map((i) => i.collection),
      items.map((i) => i.blob),
    ]);
    const done = new Set(indexed.map((r) => `${r.collection}\u0000${r.blob.trim()}`));
    return new Map(items.map((i) => [i.id, done.has(`${i.collection}\u0000${i.blob}`)]));
  }
}
