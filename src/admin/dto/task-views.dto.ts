import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, Max, Min } from 'class-validator';
import { Optional, toInt } from './validators.js';

export const MAX_GRAPH_DEPTH = 10;

/** Query of `GET /api/tasks/:id/graph`. */
export class GraphQuery {
  @ApiPropertyOptional({ description: `Edges to follow each way, 1-${MAX_GRAPH_DEPTH}`, default: 3 })
  @Optional()
  @Transform(toInt)
  @IsInt({ message: `depth must be a whole number from 1 to ${MAX_GRAPH_DEPTH}` })
  @Min(1)
  @Max(MAX_GRAPH_DEPTH)
  depth = 3;
}

/** Query of `GET /api/tasks/:id/progress`. */
export class ProgressQuery {
  @ApiPropertyOptional({
    description: 'dependencies: the subtasks this task waits for (a parent over its subtasks); dependents: the tasks waiting for it',
    enum: ['dependencies', 'dependents'],
    default: 'dependencies',
  })
  @Optional()
  @IsIn(['dependencies', 'dependents'], { message: 'of must be dependencies or dependents' })
  of: 'dependencies' | 'dependents' = 'dependencies';
}
