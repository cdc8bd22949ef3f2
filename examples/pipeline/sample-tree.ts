import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const WORDS = (
  'archive ledger invoice shipment harbor customs manifest freight broker audit memo contract clause ' +
  'witness deposition transfer account offshore trust subsidiary director minutes board quarterly ' +
  'revenue forecast pipeline warehouse inventory courier parcel tariff permit license inspection ' +
  'report summary appendix exhibit schedule annex draft final review approval signature stamp'
).split(' ');

/** A small valid PDF with one page of text (Helvetica), written by hand: no PDF library needed to make one. */
export function minimalPdf(text: string): Buffer {
  const safe = text.replace(/[\\()]/g, ' ');
  const stream = `BT /F1 11 Tf 50 750 Td (${safe}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** Deterministic pseudo-random numbers, so a tree made twice is the same tree. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function sentence(next: () => number, words: number): string {
  return Array.from({ length: words }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' ');
}

export interface SampleTreeOptions {
  /** Files to write (besides the fixed special ones). */
  files: number;
  /** Files per folder before a new folder starts. */
  perFolder?: number;
  seed?: number;
}

/**
 * Writes a tree of small documents of mixed kinds: text, Markdown, HTML, JSON, CSV and PDF, with
 * some identical contents under other names, one corrupt PDF, one invalid JSON and one PNG.
 * Every file holds the phrase `document number <n>` so a search can find any one of them.
 */
export function writeSampleTree(root: string, options: SampleTreeOptions): { written: number; phrases: Record<string, string> } {
  const next = rng(options.seed ?? 42);
  const perFolder = options.perFolder ?? 40;
  const kinds = ['txt', 'md', 'html', 'json', 'csv', 'pdf'] as const;
  let written = 0;
  const write = (rel: string, data: string | Buffer) => {
    const full = join(root, rel);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, data);
    written++;
  };
  for (let i = 0; i < options.files; i++) {
    const folder = `batch-${String(Math.floor(i / perFolder)).padStart(3, '0')}`;
    const sub = i % 3 === 0 ? `${folder}/nested` : folder;
    const kind = kinds[i % kinds.length];
    const body = `document number ${i} ${sentence(next, 12)}`;
    const name = `${sub}/doc-${String(i).padStart(5, '0')}.${kind}`;
    switch (kind) {
      case 'txt':
        write(name, `${body}\n`);
        break;
      case 'md':
        write(name, `# Memo ${i}\n\n${body}\n`);
        break;
      case 'html':
        write(name, `<html><head><title>Page ${i}</title><style>p{}</style></head><body><p>${body}</p></body></html>\n`);
        break;
      case 'json':
        write(name, JSON.stringify({ id: i, note: body, tags: ['sample'] }));
        break;
      case 'csv':
        write(name, `id,text\n${i},"${body}"\n`);
        break;
      case 'pdf':
        write(name, minimalPdf(body));
        break;
    }
    // Every tenth document also lives under another name: one blob, two paths.
    if (i % 10 === 0 && kind === 'txt') write(`duplicates/copy-of-${String(i).padStart(5, '0')}.txt`, `${body}\n`);
  }
  write('special/corrupt.pdf', minimalPdf('this pdf is cut short').subarray(0, 120));
  write('special/broken.json', '{"unterminated": ');
  write('special/picture.png', Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000100ffff03000006000557bfabd40000000049454e44ae426082', 'hex'));
  write('special/contract.pdf', minimalPdf('the offshore trust deed was signed in the harbor office'));
  return { written, phrases: { pdf: 'offshore trust deed' } };
}
