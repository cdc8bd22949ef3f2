import { fileTypeFromBuffer } from 'file-type';
import { extname } from 'node:path';
import { TaskBroken } from '../../src/index.js';

/** Text formats have no magic bytes: their MIME type comes from the name once file-type finds none. */
const TEXT_BY_EXTENSION: Record<string, string> = {
  '.txt': 'text/plain',
  '.text': 'text/plain',
  '.log': 'text/plain',
  '.md': 'text/markdown',
  '.markdown': 'text/markdown',
  '.html': 'text/html',
  '.htm': 'text/html',
  '.json': 'application/json',
  '.csv': 'text/csv',
};

/** MIME type from magic bytes (file-type), else from the extension for text formats. */
export async function sniffMime(head: Uint8Array, path: string): Promise<string> {
  const found = await fileTypeFromBuffer(head);
  if (found) return found.mime;
  return TEXT_BY_EXTENSION[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** The searchable text of a file; throws TaskBroken `unsupported_type` or `corrupt_file`. */
export async function extractText(data: Buffer, mime: string): Promise<string> {
  switch (mime) {
    case 'text/plain':
    case 'text/markdown':
    case 'text/csv':
      return decodeUtf8(data);
    case 'text/html':
    case 'application/xhtml+xml':
      return htmlToText(decodeUtf8(data));
    case 'application/json':
      return jsonToText(data);
    case 'application/pdf':
      return pdfToText(data);
    default:
      throw new TaskBroken('unsupported_type', `no text extractor for ${mime}`);
  }
}

function decodeUtf8(data: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    throw new TaskBroken('corrupt_file', 'the file is not valid UTF-8 text');
  }
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') return String.fromCodePoint(e[1].toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
      return ENTITIES[e.toLowerCase()] ?? m;
    })
    .replace(/\s+/g, ' ')
    .trim();
}

function jsonToText(data: Buffer): string {
  let value: unknown;
  try {
    value = JSON.parse(decodeUtf8(data));
  } catch (err) {
    if (err instanceof TaskBroken) throw err;
    throw new TaskBroken('corrupt_file', `invalid JSON: ${(err as Error).message}`);
  }
  const parts: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') parts.push(v);
    else if (typeof v === 'number' || typeof v === 'boolean') parts.push(String(v));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        parts.push(k);
        walk(x);
      }
    }
  };
  walk(value);
  return parts.join(' ');
}

async function pdfToText(data: Buffer): Promise<string> {
  const { getDocument } = await import('pdfjs-dist/legacy/build/pdf.mjs');
  let doc;
  try {
    doc = await getDocument({ data: new Uint8Array(data), isEvalSupported: false, useSystemFonts: false, verbosity: 0 }).promise;
  } catch (err) {
    throw new TaskBroken('corrupt_file', `unreadable PDF: ${(err as Error).message}`);
  }
  try {
    const pages: string[] = [];
    for (let i = 1; i <= doc.numPages; i++) {
      const content = await (await doc.getPage(i)).getTextContent();
      pages.push(content.items.map((item) => ('str' in item ? item.str : '')).join(' '));
    }
    return pages.join('\n');
  } finally {
    await doc.destroy();
  }
}
