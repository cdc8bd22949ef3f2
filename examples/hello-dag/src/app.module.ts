import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DATABASE_URL, LaterzModule } from 'laterz';
import { Greeting } from './greeting.entity.js';
import { HelloTasksModule } from './hello.tasks.js';

const { DATABASE_URL: url, AMQP_URL: amqpUrl, AMQP_PREFIX: prefix, EMBEDDED_PG_PORT: port } = process.env;

@Module({
  imports: [
    // laterz: on DATABASE_URL, else an embedded PostgreSQL under ./data; RabbitMQ when AMQP_URL is set.
    LaterzModule.forRoot({
      database: url ? { url } : { embedded: { dataDir: 'data', port: port ? Number(port) : undefined } },
      transport: amqpUrl ? { amqpUrl, prefix } : 'postgres',
    }),
    // The app's own DataSource, on the database laterz opened (the URL, or the embedded server's).
    TypeOrmModule.forRootAsync({
      inject: [DATABASE_URL],
      // synchronize makes the greeting table: enough for an example (a real app runs its migrations).
      useFactory: (dbUrl: string) => ({ type: 'postgres', url: dbUrl, entities: [Greeting], synchronize: true }),
    }),
    HelloTasksModule,
  ],
})
export class AppModule {}
