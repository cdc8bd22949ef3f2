import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { Pool } from 'pg';
import { AppConfig } from '../config/app-config.js';
import { PG_POOL } from '../database/database.module.js';
import { ListenClient } from '../database/listen-client.js';
import { AmqpBroker } from './amqp/amqp.broker.js';
import { Broker } from './broker.js';
import { BrokerHealth } from './broker-health.js';
import { PostgresBroker } from './postgres.broker.js';

/**
 * The engine's Broker under a second name, for a module that provides its own `Broker` over
 * another pool (the admin API's) and still needs this one (the RabbitMQ connection).
 */
export const ENGINE_BROKER = Symbol('ENGINE_BROKER');

/** Picks the transport: RabbitMQ when AMQP_URL is set, PostgreSQL itself otherwise. */
@Global()
@Module({
  imports: [TerminusModule],
  providers: [
    {
      provide: Broker,
      inject: [AppConfig, PG_POOL, ListenClient],
      useFactory: (config: AppConfig, pool: Pool, listen: ListenClient): Broker =>
        config.amqp.url ? new AmqpBroker(config.amqp) : new PostgresBroker(pool, { listen, schema: config.dbSchema, pollMs: config.worker.pollMs }),
    },
    { provide: ENGINE_BROKER, useExisting: Broker },
    { provide: BrokerHealth, inject: [Broker, HealthIndicatorService], useFactory: (b: Broker, h: HealthIndicatorService) => new BrokerHealth(b, h) },
  ],
  exports: [Broker, ENGINE_BROKER, BrokerHealth],
})
export class BrokerModule implements OnApplicationShutdown {
  constructor(@Inject(Broker) private readonly broker: Broker) {}

  async onApplicationShutdown(): Promise<void> {
    await this.broker.close();
  }
}
