import { Injectable } from '@nestjs/common';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { CollectionsService, TaskBroken } from '../../src/index.js';

/** The folder each collection's pipeline walks (collection.options.root), and safe paths inside it. */
@Injectable()
export class CollectionRoots {
  constructor(private readonly collections: CollectionsService) {}

  async of(collection: string): Promise<string> {
    const row = await this.collections.get(collection);
    const root = row?.options?.root;
    if (typeof root !== 'string' || root.length === 0) {
      throw new TaskBroken('no_collection_root', `collection "${collection}" has no root folder (COLLECTIONS name=root)`);
    }
    return resolve(root);
  }

  /** `rel` under `root`; a path that climbs out of the root is refused. */
  static inside(root: string, rel: string): string {
    const full = resolve(root, rel);
    const back = relative(root, full);
    if (back.startsWith('..') || isAbsolute(back) || back.split(sep).includes('..')) {
      throw new TaskBroken('path_outside_root', `path ${JSON.stringify(rel)} is outside the collection root`);
    }
    return full;
  }
}
