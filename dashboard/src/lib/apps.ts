// What a person calls an app's state, from the record's fields.
export function appState(a: { stopped: boolean; current_deployment?: string | null; runtime?: { state: string } | null }): string {
  if (a.stopped) return 'stopped';
  if (!a.current_deployment) return 'never';
  return a.runtime?.state ?? 'running';
}
