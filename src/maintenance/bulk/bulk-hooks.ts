import { Injectable, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';

const BULK_HOOK = 'laterz:bulk-hook';
type HookKind = 'before' | 'after';
type HookFn = (collection: string) => unknown;

/** Runs before the bulk runner works on a collection (e.g. turn an index's refresh off). */
export function BeforeBulk(): MethodDecorator {
  return (_t, _k, descriptor) => {
    Reflect.defineMetadata(BULK_HOOK, 'before', descriptor.value as object);
    return descriptor;
  };
}

/** Runs after the bulk runner is done with a collection, even if a batch failed. */
export function AfterBulk(): MethodDecorator {
  return (_t, _k, descriptor) => {
    Reflect.defineMetadata(BULK_HOOK, 'after', descriptor.value as object);
    return descriptor;
  };
}

/** The @BeforeBulk / @AfterBulk methods of the application's providers. */
@Injectable()
export class BulkHooks implements OnModuleInit {
  private readonly hooks: Record<HookKind, HookFn[]> = { before: [], after: [] };

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as object | undefined;
      if (!instance || typeof instance !== 'object') continue;
      const proto = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(proto)) {
        const fn = proto[name];
        const kind = typeof fn === 'function' ? (Reflect.getMetadata(BULK_HOOK, fn) as HookKind | undefined) : undefined;
        if (kind) this.hooks[kind].push((fn as HookFn).bind(instance));
      }
    }
  }

  async run(kind: HookKind, collection: string): Promise<void> {
    for (const hook of this.hooks[kind]) await hook(collection);
  }
}
