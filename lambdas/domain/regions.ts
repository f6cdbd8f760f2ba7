/**
 * The regions a customer chooses from, each a Hetzner location, and the server type the workflow creates there. One
 * catalogue, `.github/regions.json` (it ships with the workflow, which reads it with jq): the domain reads it here, the
 * local runner through `serverTypeFor`. Hetzner sells different lines in different locations (the newer CPX line in Germany, Finland and
 * Singapore, the older one in the US), so the type is chosen per location; docs/ARCHITECTURE.md ("The Hetzner fake")
 * gives the sources.
 */
import catalogue from '../../.github/regions.json' with { type: 'json' };

export type Region = keyof typeof catalogue;

export const REGIONS = Object.keys(catalogue) as [Region, ...Region[]];

export function isRegion(value: string): value is Region {
  return Object.hasOwn(catalogue, value);
}

/** The Hetzner server type an agent in `region` runs on. */
export function serverTypeFor(region: Region): string {
  return catalogue[region].serverType;
}
