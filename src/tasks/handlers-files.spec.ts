import { describe, expect, it } from '@jest/globals';
import { Injectable, Module } from '@nestjs/common';
import { pickHandlersModules } from './handlers-files.js';

@Injectable()
class SomeHandlers {}

@Module({ providers: [SomeHandlers] })
class HandlersModule {}

@Module({ imports: [HandlersModule] })
class OtherModule {}

@Module({})
class EmptyModule {}

class NotAModule {}

describe('pickHandlersModules', () => {
  it('takes the default export alone when it is a Nest module class', () => {
    expect(pickHandlersModules({ default: HandlersModule, OtherModule })).toEqual({ modules: [HandlersModule], names: ['HandlersModule'] });
  });

  it('takes a dynamic module as the default export', () => {
    const dynamic = { module: EmptyModule, providers: [SomeHandlers] };
    expect(pickHandlersModules({ default: dynamic })).toEqual({ modules: [dynamic], names: ['EmptyModule (dynamic)'] });
  });

  it('otherwise takes every named export that is a Nest module, and nothing else', () => {
    expect(pickHandlersModules({ default: () => 1, HandlersModule, OtherModule, SomeHandlers, NotAModule, value: 3 })).toEqual({
      modules: [HandlersModule, OtherModule],
      names: ['HandlersModule', 'OtherModule'],
    });
  });

  it('finds none in a file of providers, plain classes or an empty @Module({})', () => {
    expect(pickHandlersModules({ SomeHandlers, NotAModule, EmptyModule, default: undefined }).modules).toEqual([]);
    expect(pickHandlersModules({}).modules).toEqual([]);
  });
});
