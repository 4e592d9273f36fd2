// One piece of server data on a page: its value, the error if loading failed, and whether
// a first load is still running (pages keep their layout while it does: no jump).
import { ApiError } from './api/client';

export class Resource<T> {
  data = $state<T | undefined>(undefined);
  error = $state<ApiError | null>(null);
  loading = $state(true);

  constructor(private readonly fetcher: () => Promise<T>) {}

  /** Loads (or reloads) the data; an error keeps the last data shown. */
  async load(): Promise<void> {
    try {
      this.data = await this.fetcher();
      this.error = null;
    } catch (e) {
      this.error = e instanceof ApiError ? e : new ApiError('unavailable', String(e), 0);
    } finally {
      this.loading = false;
    }
  }
}

/** A resource that loads now and again every `ms` while the page is open. */
export function polled<T>(fetcher: () => Promise<T>, ms: number): { res: Resource<T>; stop: () => void } {
  const res = new Resource(fetcher);
  void res.load();
  const id = setInterval(() => void res.load(), ms);
  return { res, stop: () => clearInterval(id) };
}
