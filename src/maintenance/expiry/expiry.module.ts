import { Module } from '@nestjs/common';
import { ExpiryGateway } from './expiry.gateway.js';
import { ExpiryService } from './expiry.service.js';

/** The scheduler role's expiry sweep. */
@Module({
  providers: [ExpiryGateway, ExpiryService],
  exports: [ExpiryService],
})
export class ExpiryModule {}
