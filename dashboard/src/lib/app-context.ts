// The app page's record, shared by its tabs (loaded once by the app's layout).
import { getContext, setContext } from 'svelte';
import type { Output } from './api/client';
import type { Resource } from './resource.svelte';

export type App = Output<'app_get'>;
const KEY = Symbol('app');

export function provideApp(r: { current: Resource<App> }) {
  setContext(KEY, r);
}

export function useApp(): { current: Resource<App> } {
  return getContext(KEY);
}
