// Server-Sent Events over a POST (EventSource only GETs): the assistant's turns stream
// `text`, `tool_started`, `tool_finished`, `approval_required`, `usage`, then `done` with
// the tool's result or `error` with the error envelope.
import { ApiError, request } from './client';

export async function streamCall(path: string, body: unknown, onevent: (name: string, data: any) => void): Promise<any> {
  const r = await request(path, { method: 'POST', body: JSON.stringify(body), headers: { accept: 'text/event-stream' } });
  if (!r.ok || !r.body) {
    const env = await r.json().catch(() => null);
    throw new ApiError(env?.error?.kind ?? 'unavailable', env?.error?.message ?? `HTTP ${r.status}`, r.status);
  }
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let result: any = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let cut: number;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let name = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length === 0) continue;
      const parsed = JSON.parse(data.join('\n'));
      if (name === 'error') throw new ApiError(parsed.error?.kind ?? 'error', parsed.error?.message ?? 'error', 0);
      if (name === 'done') result = parsed;
      else onevent(name, parsed);
    }
  }
  return result;
}
