// The dashboard's one way to the server: every tool is called by name through
// `POST /api/v1/tools/{name}` (the route sh0's CLI uses too), with the session cookie and
// the CSRF header the server checks. Inputs and outputs are typed from `tools/openapi.json`
// (schema.d.ts is generated from it), so a tool change that breaks a page fails
// `npm run check`.
import type { operations } from './schema';

export type ToolName = keyof operations;
type Op<K extends ToolName> = operations[K];
type Part<T> = [T] extends [never] ? unknown : [T] extends [undefined] ? unknown : NonNullable<T>;
type PathOf<O> = O extends { parameters: { path?: infer P } } ? Part<P> : unknown;
type QueryOf<O> = O extends { parameters: { query?: infer Q } } ? Part<Q> : unknown;
// An empty body schema comes out as `Record<string, never>`: no fields.
type Fields<B> = string extends keyof B ? unknown : B;
type BodyOf<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? Fields<Part<B>> : unknown;
type Json<R> = R extends { content: { 'application/json': infer J } } ? J : never;

/** What a tool takes: its path, query and body fields in one object. */
export type Input<K extends ToolName> = PathOf<Op<K>> & QueryOf<Op<K>> & BodyOf<Op<K>>;
/** What a tool returns on success. */
export type Output<K extends ToolName> = Op<K> extends { responses: infer R }
  ? R extends { 200: infer A } ? Json<A> : R extends { 201: infer B } ? Json<B> : never
  : never;

/** The server's error envelope, as an exception: `kind` for code, `message` for people. */
export class ApiError extends Error {
  constructor(
    readonly kind: string,
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

/** The CSRF token the server set in a cookie readable by this page. */
export function csrfToken(): string {
  // Over HTTPS only the `__Host-` cookie counts: a sibling subdomain can plant a bare one.
  const name = location.protocol === 'https:' ? '__Host-sh0_csrf' : 'sh0_csrf';
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return '';
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  return { 'content-type': 'application/json', 'x-csrf-token': csrfToken(), 'x-sh0-adapter': 'dashboard', ...extra };
}

async function asError(r: Response): Promise<ApiError> {
  try {
    const body = await r.json();
    if (body?.error?.message) return new ApiError(body.error.kind ?? 'error', body.error.message, r.status);
  } catch {
    /* not JSON: fall through */
  }
  return new ApiError('unavailable', `the server answered ${r.status} ${r.statusText}`.trim(), r.status);
}

/** Called when the session is gone for good (refresh failed): the layout sends the user to
 *  the login page, keeping where they were. */
let onSignedOut: () => void = () => {};
export function whenSignedOut(f: () => void) {
  onSignedOut = f;
}

let refreshing: Promise<boolean> | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;

/** Renews the session's access token from the refresh cookie. Concurrent callers share one
 *  request, as the refresh token is single-use. */
export function refreshSession(): Promise<boolean> {
  const once = () =>
    fetch('/api/v1/auth/refresh', { method: 'POST', headers: headers(), credentials: 'same-origin' }).then(async (r) => {
      if (r.ok) scheduleRefresh((await r.json()).access_expires_in);
      return r.ok;
    });
  // Tabs share the refresh cookie: one refresh at a time across all of them, or the
  // second use of a token would end the session everywhere.
  if (!refreshing) {
    const locked: Promise<boolean> = navigator.locks ? (navigator.locks.request('sh0-refresh', once) as unknown as Promise<boolean>) : once();
    refreshing = locked.catch(() => false).finally(() => (refreshing = null));
  }
  return refreshing;
}

/** Refreshes a minute before the access token expires, so a page left open keeps working. */
export function scheduleRefresh(expiresInSeconds: number) {
  clearTimeout(refreshTimer);
  const ms = Math.max(10, expiresInSeconds - 60) * 1000;
  refreshTimer = setTimeout(() => void refreshSession(), ms);
}

/** A request with the session; one refresh and retry on 401. */
export async function request(path: string, init: RequestInit = {}, retry = true): Promise<Response> {
  const r = await fetch(path, {
    credentials: 'same-origin',
    ...init,
    headers: { ...headers(), ...(init.headers as Record<string, string> | undefined) }
  });
  if (r.status === 401 && retry) {
    const body = await r.clone().json().catch(() => null);
    if (body?.error?.kind === 'unauthenticated') {
      if (await refreshSession()) return request(path, init, false);
      onSignedOut();
    }
  }
  return r;
}

/** Calls a tool by name with a typed input; resolves to its typed output. */
export async function call<K extends ToolName>(name: K, input: Input<K>, init: RequestInit = {}): Promise<Output<K>> {
  return callAny(name, input as Record<string, unknown>, init) as Promise<Output<K>>;
}

/** Calls any tool by name (the command palette's generated forms). */
export async function callAny(name: string, input: Record<string, unknown>, init: RequestInit = {}): Promise<unknown> {
  const r = await request(`/api/v1/tools/${encodeURIComponent(name)}`, {
    method: 'POST',
    body: JSON.stringify(input),
    ...init
  });
  if (!r.ok) throw await asError(r);
  return r.json();
}

/** The account endpoints (login, setup, logout), which are not tools. */
export async function account(path: string, body: unknown, bearer?: string): Promise<any> {
  const extra: Record<string, string> = bearer ? { authorization: `Bearer ${bearer}` } : {};
  const r = await fetch(`/api/v1/auth/${path}`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: headers(extra),
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  if (!r.ok) throw await asError(r);
  if (r.status === 204) return null;
  const json = await r.json();
  if (typeof json?.access_expires_in === 'number') scheduleRefresh(json.access_expires_in);
  return json;
}

/** Who is signed in, or null. */
export async function me(): Promise<Me | null> {
  const r = await request('/api/v1/auth/me', { method: 'GET' });
  if (r.status === 401) return null;
  if (!r.ok) throw await asError(r);
  return r.json();
}

export interface Me {
  user: { id: string; email: string; name: string; role: string; two_factor: boolean } | null;
  credential: { kind: string; id: string };
  role: string;
  scope: string;
  projects: string[];
}

/** A tool as the catalog describes it (`GET /api/v1/tools`, filtered for the caller). */
export interface ToolInfo {
  name: string;
  title: string;
  description: string;
  safety: 'read' | 'write' | 'destructive';
  permission: string;
  target: { kind: string; field?: string; resource?: string };
  input_schema: JsonSchema;
  output_schema?: JsonSchema;
  http?: { method: string; path: string };
}

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  description?: string;
  enum?: unknown[];
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  const?: unknown;
  default?: unknown;
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  format?: string;
  pattern?: string;
  additionalProperties?: boolean | JsonSchema;
  'x-sh0-secret'?: boolean;
  [k: string]: unknown;
}

/** The tools the signed-in user may call: the same filtered list MCP gives them. */
export async function catalog(): Promise<ToolInfo[]> {
  const r = await request('/api/v1/tools', { method: 'GET' });
  if (!r.ok) throw await asError(r);
  return (await r.json()).tools;
}

/** The WebSocket URL of a log stream, on this origin (the cookie goes along). */
export function wsUrl(path: string): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}`;
}
