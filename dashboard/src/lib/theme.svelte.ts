// Light, dark, or the system's choice (the default), remembered; app.html applies it
// before the first paint.
export type Theme = 'system' | 'light' | 'dark';
const state = $state<{ theme: Theme }>({ theme: 'system' });

function apply() {
  const dark = state.theme === 'dark' || (state.theme === 'system' && matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.classList.toggle('dark', dark);
}

export function initTheme() {
  try {
    const t = localStorage.getItem('sh0.theme');
    if (t === 'light' || t === 'dark') state.theme = t;
  } catch {
    /* ignore */
  }
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', apply);
  apply();
}

export function theme(): Theme {
  return state.theme;
}

export function setTheme(t: Theme) {
  state.theme = t;
  try {
    localStorage.setItem('sh0.theme', t);
  } catch {
    /* ignore */
  }
  apply();
}
