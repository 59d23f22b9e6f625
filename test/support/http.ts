/** A tiny JSON client for end-to-end tests over real HTTP. */
export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function call<T = any>(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON; keep the text
  }
  return { status: response.status, headers: response.headers, body };
}

export async function anonymousSession(baseUrl: string, installId: string) {
  const res = await call(baseUrl, 'POST', '/v1/sessions/anonymous', {
    body: { install_id: installId, app_version: '1.0.0', platform: 'ios' },
  });
  if (res.status !== 200 && res.status !== 201)
    throw new Error(`session failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { session_token: string; refresh_token: string; user_id: string; expires_at: string };
}
