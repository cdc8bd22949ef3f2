import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuditService } from '../audit/audit.service.js';
import { AuditPageResponse } from './dto/admin-responses.dto.js';
import { AuditQuery } from './dto/audit.dto.js';
import { ApiGuarded } from './openapi.js';

@ApiTags('audit')
@ApiGuarded()
@Controller('api/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @ApiOperation({ summary: 'The audit log, newest first unless order=asc: who (role:token-id), action, target, count, when' })
  @ApiOkResponse({ type: AuditPageResponse })
  async list(@Query() query: AuditQuery): Promise<AuditPageResponse> {
    const rows = await this.audit.list({ limit: query.limit + 1, after: query.cursor, order: query.order, action: query.action });
    const items = rows.slice(0, query.limit);
    return { items, nextCursor: rows.length > query.limit ? items[items.length - 1].id : null };
  }
}
