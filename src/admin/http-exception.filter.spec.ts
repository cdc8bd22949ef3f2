import { BadRequestException, HttpException, ServiceUnavailableException } from '@nestjs/common';
import { InvalidSchedule } from '../schedules/schedules.errors.js';
import {
  ArgsTooLarge,
  DependencyCycle,
  DuplicateTaskHandler,
  LaterzErrorCode,
  QueueFull,
  TaskHasDependents,
  TaskNotFound,
  TaskRunning,
  UnknownFunc,
} from '../tasks/tasks.errors.js';
import { AdminExceptionFilter, statusOfCode } from './http-exception.filter.js';

describe('AdminExceptionFilter', () => {
  const filter = new AdminExceptionFilter();

  it('maps every engine error code to a status', () => {
    const codes: LaterzErrorCode[] = [
      'unknown_func',
      'invalid_args',
      'args_too_large',
      'invalid_collection',
      'task_not_found',
      'cross_collection_dependency',
      'dependency_cycle',
      'task_running',
      'duplicate_task_handler',
      'invalid_handler',
      'queue_full',
      'task_has_dependents',
      'invalid_schedule',
      'schedule_not_found',
    ];
    expect(codes.map((c) => [c, statusOfCode(c)])).toEqual([
      ['unknown_func', 400],
      ['invalid_args', 400],
      ['args_too_large', 400],
      ['invalid_collection', 400],
      ['task_not_found', 404],
      ['cross_collection_dependency', 400],
      ['dependency_cycle', 409],
      ['task_running', 409],
      ['duplicate_task_handler', 500],
      ['invalid_handler', 500],
      ['queue_full', 429],
      ['task_has_dependents', 409],
      ['invalid_schedule', 400],
      ['schedule_not_found', 404],
    ]);
  });

  it('answers engine errors with their message and the field at fault', () => {
    expect(filter.toBody(new UnknownFunc('x.y'))).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining('"x.y"'), fields: ['func'] });
    expect(filter.toBody(new ArgsTooLarge('x.y', 100, 10))).toMatchObject({ statusCode: 400, fields: ['args'] });
    expect(filter.toBody(new TaskNotFound('7'))).toEqual({ statusCode: 404, error: 'Not Found', message: 'task 7 does not exist' });
    expect(filter.toBody(new TaskRunning('7'))).toMatchObject({ statusCode: 409 });
    expect(filter.toBody(new DependencyCycle('1', '2'))).toMatchObject({ statusCode: 409, fields: ['dependsOn'] });
    expect(filter.toBody(new QueueFull('x.y', 10, 10))).toEqual({
      statusCode: 429,
      error: 'Too Many Requests',
      message: expect.stringContaining('its cap (maxQueued) is 10'),
      cap: 10,
      depth: 10,
    });
    expect(filter.toBody(new TaskHasDependents('7', 2))).toMatchObject({ statusCode: 409, message: expect.stringContaining('2 other task(s) depend on it') });
    expect(filter.toBody(new InvalidSchedule('cron', 'bad'))).toMatchObject({ statusCode: 400, fields: ['cron'] });
    expect(filter.toBody(new DuplicateTaskHandler('f', 'A.a', 'B.b'))).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'internal error' });
  });

  it('never answers with a stack or the text of an unknown error', () => {
    const err = new TypeError('cannot read secret-value of undefined');
    const body = filter.toBody(err);
    expect(body).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'internal error' });
    expect(JSON.stringify(body)).not.toContain('secret-value');
  });

  it('maps PostgreSQL conditions: statement timeout 503, bad values 400, the rest 500', () => {
    const pg = (code: string, message = 'invalid input syntax for type bigint: "hunter2"') => Object.assign(new Error(message), { code });
    expect(filter.toBody(pg('57014'))).toMatchObject({ statusCode: 503, message: expect.stringContaining('ADMIN_STATEMENT_TIMEOUT_MS') });
    expect(filter.toBody(pg('22P02'))).toMatchObject({ statusCode: 400 });
    expect(JSON.stringify(filter.toBody(pg('22P02')))).not.toContain('hunter2');
    expect(filter.toBody(pg('40P01'))).toMatchObject({ statusCode: 503 });
    expect(filter.toBody(pg('42P01'))).toMatchObject({ statusCode: 500, message: 'internal error' });
    expect(filter.toBody(pg('EPIPE'))).toMatchObject({ statusCode: 500 });
  });

  it('answers 503 when no connection of the admin pool came free in time', () => {
    expect(filter.toBody(new Error('timeout exceeded when trying to connect'))).toMatchObject({ statusCode: 503, message: expect.stringContaining('ADMIN_STATEMENT_TIMEOUT_MS') });
  });

  it('replaces the messages of body-parser errors, which quote the body', () => {
    const syntax = Object.assign(new SyntaxError('Unexpected token in {"password": "hunter2"'), { status: 400 });
    expect(filter.toBody(new BadRequestException(syntax.message, { cause: syntax }))).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'the request body is not valid JSON',
      fields: ['body'],
    });
    expect(filter.toBody(new HttpException('request entity too large', 413))).toMatchObject({ statusCode: 413, message: expect.stringContaining('64 KB') });
  });

  it('keeps validation bodies and a failed health check report as they are', () => {
    const validation = new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'limit must not be greater than 100', fields: ['limit'] });
    expect(filter.toBody(validation)).toEqual({ statusCode: 400, error: 'Bad Request', message: 'limit must not be greater than 100', fields: ['limit'] });
    const report = { status: 'error', info: {}, error: { database: { status: 'down' } }, details: { database: { status: 'down' } } };
    expect(filter.toBody(new ServiceUnavailableException(report))).toEqual(report);
  });
});
