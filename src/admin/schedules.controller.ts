import { Body, Controller, Delete, Get, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { principalName } from './admin-tokens.js';
import type { Principal } from './admin-tokens.js';
import { CurrentPrincipal } from './auth.guard.js';
import { CreateScheduleBody, RemovedScheduleResponse, ScheduleListResponse, ScheduleNameParams, ScheduleResponse } from './dto/schedules.dto.js';
import { ApiGuarded } from './openapi.js';
import { SchedulesAdmin } from './schedules-admin.service.js';
import { NoParams } from './validation.pipe.js';

@ApiTags('schedules')
@ApiGuarded()
@Controller('api/schedules')
export class SchedulesController {
  constructor(private readonly schedules: SchedulesAdmin) {}

  @Get()
  @ApiOperation({ summary: 'Periodic schedules (declared on handlers and added at run time) with their next and last runs' })
  @ApiOkResponse({ type: ScheduleListResponse })
  list(@Query(NoParams) _query: unknown): Promise<ScheduleListResponse> {
    return this.schedules.list();
  }

  @Get(':name')
  @ApiOperation({ summary: 'One schedule' })
  @ApiOkResponse({ type: ScheduleResponse })
  get(@Param() params: ScheduleNameParams, @Query(NoParams) _query: unknown): Promise<ScheduleResponse> {
    return this.schedules.get(params.name);
  }

  @Post()
  @ApiOperation({ summary: 'Add a schedule, or replace the one of that name (its next run stays unless its cadence changed)' })
  @ApiCreatedResponse({ type: ScheduleResponse })
  add(@Body() body: CreateScheduleBody, @Query(NoParams) _query: unknown, @CurrentPrincipal() who: Principal): Promise<ScheduleResponse> {
    return this.schedules.add(body, principalName(who));
  }

  @Delete(':name')
  @ApiOperation({ summary: 'Remove a schedule (a declared one comes back when a process declaring it boots)' })
  @ApiOkResponse({ type: RemovedScheduleResponse, description: 'The schedule removed' })
  async remove(@Param() params: ScheduleNameParams, @Query(NoParams) _query: unknown, @CurrentPrincipal() who: Principal): Promise<RemovedScheduleResponse> {
    await this.schedules.remove(params.name, principalName(who));
    return { name: params.name, removed: true };
  }
}
