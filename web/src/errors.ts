/** The API's stable error codes, told as sentences: the UI never shows a blank page or a bare code. */
export class UiError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'UiError';
    this.code = code;
  }
}

const SENTENCES: Readonly<Record<string, string>> = {
  RANGE_TOO_LARGE: 'That time range is too large for this question. Pick a shorter range.',
  PAGE_TOO_LARGE: 'That asks for too many rows at once. Lower the limit.',
  QUERY_TOO_COMPLEX: 'The server refused the question as too costly. Narrow the range or add a filter.',
  UNAUTHENTICATED: 'This API needs a valid token. Sign in with the API_TOKEN the server was started with.',
  STORE_UNAVAILABLE: 'The database behind conntrail is not answering right now. The map will load again once it is back.',
  BAD_USER_INPUT: 'The server did not accept a value in the view',
  INTERNAL_SERVER_ERROR: 'The server failed to answer. Its log has the details.',
  NETWORK: 'The conntrail server cannot be reached. Is it still running?',
  BAD_RESPONSE: 'The server sent an answer the UI cannot read.',
};

/** One sentence for an error: the code's sentence, plus the server's own words where they add the detail. */
export function sentenceFor(err: unknown): string {
  if (err instanceof UiError) {
    const base = SENTENCES[err.code];
    if (!base) return `The server refused the question: ${err.message}`;
    return err.code === 'BAD_USER_INPUT' ? `${base}: ${err.message}` : base;
  }
  return `Something went wrong in the page: ${err instanceof Error ? err.message : String(err)}`;
}
