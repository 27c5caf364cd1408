/**
 * docs/protocol.schema.json, written from src/protocol/schema.ts (the one
 * source of the frames' shapes). `test/protocol/schema.test.ts` fails when
 * the file is stale.
 *
 *   npx tsx scripts/protocol-schema.ts           print it
 *   npx tsx scripts/protocol-schema.ts --write   write docs/protocol.schema.json
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_SCHEMA } from '../src/protocol/schema.js';

export const SCHEMA_FILE = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'docs', 'protocol.schema.json');

/** The file's text: the schema as JSON, two-space indented, with a final newline. */
export function schemaText(): string {
  return `${JSON.stringify(PROTOCOL_SCHEMA, null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--write')) writeFileSync(SCHEMA_FILE, schemaText());
  else process.stdout.write(schemaText());
}
