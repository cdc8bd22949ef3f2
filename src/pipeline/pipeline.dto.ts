import { Transform, Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';

export class CollectionNameParam {
  @Matches(/^[A-Za-z0-9_.-]{1,100}$/, { message: 'name must be 1-100 letters, digits, _ . -' })
  name: string;
}

export class SearchQuery {
  /** Words, "a phrase", -excluded, or: web-search syntax. */
  @IsString() @MinLength(1) @MaxLength(200)
  q: string;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100)
  limit = 20;
}

export class FilesQuery {
  /** A folder relative to the collection root; empty for the root. */
  @IsOptional() @IsString() @MaxLength(1000)
  @Transform(({ value }) => (typeof value === 'string' ? value.replace(/^\/+|\/+$/g, '') : value))
  path = '';

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000)
  limit = 200;
}
