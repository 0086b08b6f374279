/** `conntrail query`: one GraphQL operation against a running API; the JSON answer goes to stdout. */
export async function runQuery(url: string, query: string, variables: Record<string, unknown>, token: string | null): Promise<number> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'apollo-require-preflight': 'true' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    process.stderr.write(`conntrail query: ${url} answered HTTP ${response.status} with non-JSON: ${text.slice(0, 500)}\n`);
    return 1;
  }
  process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  const errors = (body as { errors?: unknown[] }).errors;
  return response.ok && !(errors && errors.length > 0) ? 0 : 1;
}
