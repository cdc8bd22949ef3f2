import type { TaskRef } from '../broker.js';

/** A message body: the task's address. The func is not in it: the queue the message is on names it. */
export type TaskMessage = Pick<TaskRef, 'collection' | 'taskId'>;

export type ParsedTaskMessage = { ok: true; message: TaskMessage } | { ok: false; reason: string };

/** A bigint in decimal: at most 19 digits. */
const TASK_ID = /^[0-9]{1,19}$/;
/** Bodies are a few dozen bytes; anything far larger is not ours and is not worth parsing. */
const MAX_BODY_BYTES = 64 * 1024;
/** How much of a malformed body a log line quotes. */
const PREVIEW_BYTES = 200;

export function encodeTaskMessage(ref: TaskMessage): Buffer {
  return Buffer.from(JSON.stringify({ collection: ref.collection, taskId: ref.taskId }));
}

/** Why a ref cannot travel, or undefined when it can. */
export function invalidTaskMessage(ref: TaskMessage): string | undefined {
  if (typeof ref.collection !== 'string' || ref.collection.length === 0) return 'collection is not a non-empty string';
  if (typeof ref.taskId !== 'string' || !TASK_ID.test(ref.taskId)) return 'taskId is not a decimal string';
  return undefined;
}

/** Validates a received body; a message from anything other than this service must not crash a consumer. */
export function parseTaskMessage(body: Buffer): ParsedTaskMessage {
  if (body.length > MAX_BODY_BYTES) return { ok: false, reason: `body of ${body.length} bytes is too large` };
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'body is not a JSON object' };
  const { collection, taskId } = value as Record<string, unknown>;
  const message = { collection, taskId } as TaskMessage;
  const reason = invalidTaskMessage(message);
  return reason ? { ok: false, reason } : { ok: true, message };
}

/** The start of a body, quoted, for a log line. */
export function previewBody(body: Buffer): string {
  const head = JSON.stringify(body.subarray(0, PREVIEW_BYTES).toString('utf8'));
  return body.length > PREVIEW_BYTES ? `${head}… (${body.length} bytes)` : head;
}
