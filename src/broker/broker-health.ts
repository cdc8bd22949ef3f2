import { Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { Broker } from './broker.js';

/** Readiness of the transport: the service keeps serving the API while the broker is down. */
@Injectable()
export class BrokerHealth {
  constructor(
    private readonly broker: Broker,
    private readonly indicator: HealthIndicatorService,
  ) {}

  async check(key: string): Promise<HealthIndicatorResult> {
    const state = await this.broker.health();
    const session = this.indicator.check(key);
    const details = { transport: state.transport, ...(state.detail ? { detail: state.detail } : {}) };
    return state.up ? session.up(details) : session.down(details);
  }
}
