import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';

export class CollectionNameParam {
  @ApiProperty({ description: 'Collection name', example: 'demo' })
  @Matches(/^[A-Za-z0-9_.-]{1,100}$/, { message: 'name must be 1-100 letters, digits, _ . -' })
  name: string;
}

export class SearchQuery {
  @ApiProperty({ description: 'Words, "a phrase", -excluded, or: web-search syntax', minLength: 1, maxLength: 200, example: '"offshore trust"' })
  @IsString() @MinLength(1) @MaxLength(200)
  q: string;

  @ApiPropertyOptional({ type: 'integer', description: 'Hits, 1-100', minimum: 1, maximum: 100, default: 20 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100)
  limit = 20;
}

export class FilesQuery {
  @ApiPropertyOptional({ description: 'A folder relative to the collection root; empty for the root', maxLength: 1000, default: '', example: 'special' })
  @IsOptional() @IsString() @MaxLength(1000)
  @Transform(({ value }) => (typeof value === 'string' ? value.replace(/^\/+|\/+$/g, '') : value))
  path = '';

  @ApiPropertyOptional({ type: 'integer', description: 'Entries, 1-1000', minimum: 1, maximum: 1000, default: 200 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000)
  limit = 200;
}

export class SearchHitView {
  @ApiProperty({ description: 'The content (blob) digest' }) blob: string;
  @ApiProperty({ description: 'Relevance, higher first' }) rank: number;
  @ApiProperty({ description: 'Matching text with the words in <mark>…</mark>' }) snippet: string;
  @ApiProperty({ type: [String], description: 'The files with this content' }) paths: string[];
}

/** `GET /api/collections/:name/search`. */
export class SearchResponse {
  @ApiProperty({ type: [SearchHitView] }) hits: SearchHitView[];
}

export class TreeEntryView {
  @ApiProperty({ description: 'Relative to the collection root' }) path: string;
  @ApiProperty({ enum: ['file', 'dir'] }) kind: 'file' | 'dir';
  @ApiProperty({ type: 'integer', nullable: true, description: 'Bytes; null for a folder' }) size: number | null;
  @ApiProperty({ type: String, nullable: true, description: 'The content digest; null for a folder' }) blob: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'The detected type; null for a folder or when unknown' }) mime: string | null;
}

/** `GET /api/collections/:name/files`. */
export class FolderResponse {
  @ApiProperty({ description: 'The folder listed' }) path: string;
  @ApiProperty({ type: [TreeEntryView] }) entries: TreeEntryView[];
}
