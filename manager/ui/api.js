// The management API as the page uses it: same origin, JSON, no caching. Credentials are the
// browser's (Basic, kept after the login prompt) or none (unix socket, loopback).

/** A refused or failed request: the HTTP status and the API's `errors` (pointer, message). */
export class ApiFailure extends Error {
  constructor(status, errors) {
    super(errors.map((e) => (e.pointer ? `${e.pointer}: ${e.message}` : e.message)).join('; ') || `HTTP ${status}`);
    this.status = status;
    this.errors = errors;
  }
}

/** `path` answered as JSON, with the response (for its ETag); throws ApiFailure. */
export async function api(path, { method = 'GET', body, headers = {} } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      body,
      headers: { Accept: 'application/json', ...headers },
      cache: 'no-store',
      credentials: 'same-origin',
    });
  } catch (error) {
    throw new ApiFailure(0, [{ pointer: '', message: `the manager cannot be reached (${error.message})` }]);
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok && response.status !== 304) {
    const errors = Array.isArray(json?.errors) ? json.errors : [{ pointer: '', message: text || response.statusText }];
    throw new ApiFailure(response.status, errors);
  }
  return { json, response };
}

/** The path of the config value at an RFC 6901 pointer (each token percent-encoded). */
export function configPath(pointer) {
  const tokens = pointer === '' || pointer === '/' ? [] : pointer.replace(/^\//, '').split('/');
  return '/v1/config' + tokens.map((t) => '/' + encodeURIComponent(t)).join('');
}
