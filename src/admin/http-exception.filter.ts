import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { InvalidSchedule } from '../schedules/schedules.errors.js';
import { LaterzError, LaterzErrorCode, QueueFull } from '../tasks/tasks.errors.js';
import { ErrorBody } from './dto/error-body.dto.js';

interface HttpResponse {
  status(code: number): HttpResponse;
  setHeader(name: string, value: string): void;
  json(body: unknown): void;
  headersSent: boolean;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The HTTP status of each engine error code; exhaustive, so a new code does not compile until it is mapped. */
export function statusOfCode(code: LaterzErrorCode): number {
  switch (code) {
    case 'unknown_func':
    case 'invalid_args':
    case 'args_too_large':
    case 'invalid_collection':
    case 'cross_collection_dependency':
    case 'invalid_schedule':
      return HttpStatus.BAD_REQUEST;
    case 'task_not_found':
    case 'schedule_not_found':
      return HttpStatus.NOT_FOUND;
    case 'task_running':
    case 'dependency_cycle':
    case 'task_not_waiting':
    case 'task_has_dependents':
      return HttpStatus.CONFLICT;
    case 'queue_full':
      return HttpStatus.TOO_MANY_REQUESTS;
    case 'duplicate_task_handler':
    case 'invalid_handler':
    case 'not_in_transaction':
      // Boot-time and programming errors: reaching a request means a bug, answered as one.
      return HttpStatus.INTERNAL_SERVER_ERROR;
    default: {
      const unmapped: never = code;
      throw new Error(`unmapped error code ${String(unmapped)}`);
    }
  }
}

/**
 * Maps whatever a request ends with to an ErrorBody: the engine's typed errors by code, HTTP
 * exceptions with their own status and message (a non-error body, like a failed health check's
 * report, as it is), known PostgreSQL conditions (statement timeout, bad values) to 503/400, and
 * anything else to a bare 500. No stack trace and no request data (task args) ever goes
 * into a response or a log line: logs get the error's name, code and message only.
 */
@Catch()
export class AdminExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('AdminApi');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<HttpResponse>();
    const status = exception instanceof HttpException ? exception.getStatus() : undefined;
    const body = this.toBody(exception);
    const code = status ?? (body as ErrorBody).statusCode;
    if (code >= 500 && !(exception instanceof HttpException)) this.logger.error(`request failed (${code}): ${describe(exception)}`);
    if (response.headersSent) return;
    if (code === HttpStatus.UNAUTHORIZED) response.setHeader('WWW-Authenticate', 'Bearer realm="laterz"');
    // A route's own @Header('Content-Type') (the text of /metrics) is already set: an error is JSON all the same.
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.status(code).json(body);
  }

  toBody(exception: unknown): ErrorBody | object {
    if (exception instanceof LaterzError) {
      const status = statusOfCode(exception.code);
      if (status >= 500) return bare(status, 'internal error');
      return { ...bare(status, exception.message), fields: fieldsOf(exception), ...(exception instanceof QueueFull ? { cap: exception.cap, depth: exception.depth } : {}) };
    }
    if (exception instanceof HttpException) return this.fromHttp(exception);
    const pgCode = (exception as { code?: unknown } | null)?.code;
    if (typeof pgCode === 'string' && /^[0-9A-Z]{5}$/.test(pgCode)) {
      if (pgCode === '57014') return bare(503, 'the database statement took longer than ADMIN_STATEMENT_TIMEOUT_MS; narrow the request or try again');
      if (pgCode === '40001' || pgCode === '40P01' || pgCode === '55P03') return bare(503, 'the database was busy with the same rows; try again');
      if (pgCode.startsWith('22')) return bare(400, 'a value in the request is out of range or not valid for the database');
      if (pgCode.startsWith('08') || pgCode === '57P01' || pgCode === '53300') return bare(503, 'the database is unavailable; try again');
    }
    // pg-pool's error when no connection came free within connectionTimeoutMillis (the AdminPool's).
    if (exception instanceof Error && exception.message === 'timeout exceeded when trying to connect') {
      return bare(503, 'every database connection of the API was busy for ADMIN_STATEMENT_TIMEOUT_MS; try again');
    }
    return bare(500, 'internal error');
  }

  private fromHttp(exception: HttpException): ErrorBody | object {
    const status = exception.getStatus();
    const cause = exception.cause;
    // Errors of body-parser come here mapped by Nest; their messages quote the body, so they are replaced.
    if (status === HttpStatus.PAYLOAD_TOO_LARGE) return bare(status, 'the request body is over the limit of 64 KB');
    if (cause instanceof SyntaxError) return { ...bare(400, 'the request body is not valid JSON'), fields: ['body'] };
    if (cause instanceof URIError) return bare(400, 'the request path is not valid (bad percent-encoding)');
    // Anything else was built on purpose by our code or a library's (never a stack).
    const response = exception.getResponse();
    if (typeof response === 'object' && response !== null) {
      const r = response as { message?: unknown; fields?: unknown };
      // Not an error body of Nest's shape (e.g. a failed health check's report): as it is.
      if (r.message === undefined) return response;
      const message = Array.isArray(r.message) ? r.message.join('; ') : typeof r.message === 'string' ? r.message : exception.message;
      const fields = Array.isArray(r.fields) ? (r.fields as string[]) : undefined;
      return { ...bare(status, message), ...(fields ? { fields } : {}) };
    }
    return bare(status, typeof response === 'string' ? response : exception.message);
  }
}

function bare(statusCode: number, message: string): ErrorBody {
  return { statusCode, error: STATUS_TEXT[statusCode] ?? 'Error', message };
}

function fieldsOf(error: LaterzError): string[] | undefined {
  if (error instanceof InvalidSchedule) return [error.field];
  switch (error.code) {
    case 'unknown_func':
      return ['func'];
    case 'invalid_args':
    case 'args_too_large':
      return ['args'];
    case 'invalid_collection':
      return ['collection'];
    case 'cross_collection_dependency':
    case 'dependency_cycle':
      return ['dependsOn'];
    default:
      return undefined;
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${err.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${err.message}`;
  }
  return typeof err;
}
