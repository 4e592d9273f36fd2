// Who is signed in and which tools they may call. Pages show a control only when its tool
// is in the caller's catalog: the same filtered list MCP gives them, so a viewer never sees
// a button that would answer "forbidden".
import { catalog, me, type Me, type ToolInfo } from './api/client';

const state = $state<{ me: Me | null; tools: ToolInfo[]; ready: boolean }>({ me: null, tools: [], ready: false });

export const session = {
  get me() {
    return state.me;
  },
  get tools() {
    return state.tools;
  },
  get ready() {
    return state.ready;
  },
  /** Whether the signed-in user may call `tool`. */
  can(tool: string): boolean {
    return state.tools.some((t) => t.name === tool);
  },
  tool(name: string): ToolInfo | undefined {
    return state.tools.find((t) => t.name === name);
  },
  /** Loads who is signed in and their catalog; false when nobody is. */
  async load(): Promise<boolean> {
    state.me = await me();
    state.tools = state.me ? await catalog() : [];
    state.ready = true;
    return state.me !== null;
  },
  clear() {
    state.me = null;
    state.tools = [];
  }
};
