import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LaterzTesting, type LaterzTestingApp } from 'laterz';
import { enqueueHello, HelloTasksModule } from '../src/hello.tasks.js';

// The handlers on a database of their own: a new one on DATABASE_URL's server, else an embedded
// PostgreSQL in a temporary folder. Nothing runs until the test calls runUntilIdle().
const url = process.env.DATABASE_URL;

describe('the hello DAG', () => {
  let laterz: LaterzTestingApp;
  before(async () => {
    laterz = await LaterzTesting.create({ imports: [HelloTasksModule], database: url ? { url } : undefined });
  });
  after(() => laterz?.close());

  it('passes each result along its edges to the card', async () => {
    const card = await enqueueHello(laterz.tasks, 'ada');
    assert.equal((await laterz.task(card)).result, null); // nothing has run yet

    const report = await laterz.runUntilIdle();

    assert.deepEqual(report.counts, { success: 3 });
    assert.equal((await laterz.task(card)).result, 'Hello, Ada! Your name has 3 letters.');
  });
});
