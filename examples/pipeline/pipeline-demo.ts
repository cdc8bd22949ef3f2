import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppConfig, CollectionsService, TasksService } from '../../src/index.js';
import { DemoProgress } from './demo-progress.service.js';
import { formatIngested } from './ingest-progress.js';

/** The README's demo search: a phrase that only the sample's contract.pdf holds, URL-encoded. */
const DEMO_QUERY = encodeURIComponent('"offshore trust deed"');

/** The sample folder shipped in the repository (examples/pipeline/sample), found from the sources or from dist/. */
export function sampleFolder(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, 'sample'), resolve(here, '../../../examples/pipeline/sample')];
  return candidates.find((c) => existsSync(c)) ?? candidates[0];
}

/**
 * At boot, starts the walk of every collection that has a root folder (get-or-create: a restart does
 * not walk again). With no COLLECTIONS at all, makes the `demo` collection over the sample folder,
 * says (api role) whether it is being or already ingested, and has DemoProgress report until it is done.
 */
@Injectable()
export class PipelineDemo implements OnApplicationBootstrap {
  private readonly logger = new Logger(PipelineDemo.name);

  constructor(
    private readonly config: AppConfig,
    private readonly collections: CollectionsService,
    private readonly tasks: TasksService,
    private readonly progress: DemoProgress,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.has('api') && !this.config.has('scheduler')) return;
    let roots = this.config.collections.filter((c) => c.root).map((c) => c.name);
    if (this.config.collections.length === 0) {
      const sample = sampleFolder();
      if (!existsSync(sample)) {
        this.logger.warn(`no demo collection: the sample folder ${sample} is not there (set COLLECTIONS to ingest a folder)`);
        return;
      }
      await this.collections.upsert('demo', { options: { root: sample } });
      roots = ['demo'];
    }
    for (const name of roots) {
      const walk = await this.tasks.enqueue('filesystem.walk', { dir: '' }, { collection: name });
      if (walk.created) this.logger.log(`collection "${name}": walking its root folder (task ${walk.id})`);
    }
    if (roots.includes('demo') && this.config.has('api')) await this.announceDemo();
  }

  /** Says whether the demo is being ingested or already is, with what to try; then watches it until it is done. */
  private async announceDemo(): Promise<void> {
    const progress = await this.progress.read('demo');
    const base = `http://localhost:${this.config.port}`;
    const tokenHint = this.config.admin.tokens.length > 0 ? 'TOKEN=<an operator or viewer token of ADMIN_TOKENS>' : `TOKEN=$(cat ${join(this.config.dataDir, 'admin-token')})`;
    const state = progress.done
      ? `is already ingested: ${formatIngested(progress)}`
      : 'is being ingested: progress follows, and a line once it is done';
    this.logger.log(
      `demo: the sample folder ${state}. Try:\n` +
        `  ${tokenHint}\n` +
        `  curl -H "Authorization: Bearer $TOKEN" '${base}/api/collections/demo/search?q=${DEMO_QUERY}'\n` +
        `  curl -H "Authorization: Bearer $TOKEN" '${base}/api/collections/demo/files?path=special'\n` +
        `  curl -H "Authorization: Bearer $TOKEN" '${base}/api/tasks?collection=demo&status=broken'   # the extractions that failed\n` +
        `  API docs: ${base}/docs`,
    );
    this.progress.watch('demo', progress);
  }
}
