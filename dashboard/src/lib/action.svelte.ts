// A change a page makes on a person's click: whether it is running (buttons disable
// themselves) and the error it ended with (the page shows it). One per page, shared by its
// buttons.
import { ApiError } from './api/client';

export class Action {
  busy = $state(false);
  error = $state<ApiError | null>(null);

  /** Runs `f`, keeping its error; true when it succeeded. */
  async run(f: () => Promise<unknown>): Promise<boolean> {
    this.busy = true;
    this.error = null;
    try {
      await f();
      return true;
    } catch (e) {
      this.error = e instanceof ApiError ? e : new ApiError('unavailable', String(e), 0);
      return false;
    } finally {
      this.busy = false;
    }
  }
}
