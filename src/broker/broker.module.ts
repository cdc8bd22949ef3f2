import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { AppConfig } from '../config/app-config.js';
import { LaterzSetup } from '../config/laterz-options.js';
import { Db } from '../database/db.js';
import { ListenClient } from '../database/listen-client.js';
import { AmqpBroker } from './amqp/amqp.broker.js';
import { Broker } from './broker.js';
import { BrokerHealth } from './broker-health.js';
import { DrivenBroker } from './driven.broker.js';
import { PostgresBroker } from './postgres.broker.js';

/**
 * Picks the transport: RabbitMQ when AMQP_URL is set, PostgreSQL itself otherwise; when the caller
 * moves the work (LaterzTesting, inline mode), PostgreSQL pulled only when the caller asks.
 */
@Global()
@Module({
  imports: [TerminusModule],
  providers: [
    {
      provide: Broker,
      inject: [AppConfig, Db, ListenClient, LaterzSetup],
      useFactory: (config: AppConfig, db: Db, listen: ListenClient, setup: LaterzSetup): Broker => {
        const postgres = { listen, schema: config.dbSchema, pollMs: config.worker.pollMs };
        if (setup.drive !== 'consumers') return new DrivenBroker(db, postgres);
        return config.amqp.url ? new AmqpBroker(config.amqp) : new PostgresBroker(db, postgres);
      },
    },
    { provide: BrokerHealth, inject: [Broker, HealthIndicatorService], useFactory: (b: Broker, h: HealthIndicatorService) => new BrokerHealth(b, h) },
  ],
  exports: [Broker, BrokerHealth],
})
export class BrokerModule implements OnApplicationShutdown {
  constructor(@Inject(Broker) private readonly broker: Broker) {}

  async onApplicationShutdown(): Promise<void> {
    await this.broker.close();
  }
}
