/** The page of a service inside an organisation (`base` is `/o/<slug>`). */
export function servicePath(base: string, id: string): string {
  return `${base}/services/${encodeURIComponent(id)}`;
}

/** The settings page of the organisation's own service entries. */
export function serviceSettingsPath(base: string, id?: string): string {
  return `${base}/settings/services${id === undefined ? '' : `/${encodeURIComponent(id)}`}`;
}
