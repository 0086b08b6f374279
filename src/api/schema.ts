/** The SDL lives at the package root (schema.graphql) so clients and reviewers read one file. */
import { readFileSync } from 'node:fs';

export const SCHEMA_URL = new URL('../../../schema.graphql', import.meta.url);

export function loadTypeDefs(url: URL = SCHEMA_URL): string {
  return readFileSync(url, 'utf8');
}
