/**
 * What Hetzner Cloud sells where, as of the end of 2026: the fake's own copy of Hetzner's catalogue, independent of the
 * product's choice (.github/regions.json), so a test can tell when that choice is not sold in its location.
 * Sources per row in docs/ARCHITECTURE.md ("The Hetzner fake"). Ids are the fake's; clients go by name.
 */

/** A location as `GET /v1/locations` lists it. */
export interface HetznerLocation {
  id: number;
  name: string;
  description: string;
  country: string;
  city: string;
  latitude: number;
  longitude: number;
  network_zone: string;
}

export const HETZNER_LOCATIONS: readonly HetznerLocation[] = [
  location(1, 'fsn1', 'Falkenstein DC Park 1', 'DE', 'Falkenstein', 50.47612, 12.370071, 'eu-central'),
  location(2, 'nbg1', 'Nuremberg DC Park 1', 'DE', 'Nuremberg', 49.452102, 11.076665, 'eu-central'),
  location(3, 'hel1', 'Helsinki DC Park 1', 'FI', 'Helsinki', 60.169855, 24.938379, 'eu-central'),
  location(4, 'ash', 'Ashburn, VA', 'US', 'Ashburn, VA', 39.045821, -77.487073, 'us-east'),
  location(5, 'hil', 'Hillsboro, OR', 'US', 'Hillsboro, OR', 45.54222, -122.951924, 'us-west'),
  location(6, 'sin', 'Singapore', 'SG', 'Singapore', 1.283333, 103.833333, 'ap-southeast'),
];

/** A server type's own fields, without the per-location list the fake adds (`locations[]`). */
export interface HetznerServerTypeSpec {
  id: number;
  name: string;
  description: string;
  category: string;
  cores: number;
  /** GB */
  memory: number;
  /** GB */
  disk: number;
  cpu_type: 'shared' | 'dedicated';
  architecture: 'x86' | 'arm';
  storage_type: 'local';
  /** The locations that sell it. */
  sold_in: readonly string[];
}

const EUROPE = ['fsn1', 'nbg1', 'hel1'];
const US = ['ash', 'hil'];
const EVERYWHERE = [...EUROPE, ...US, 'sin'];

/**
 * The lines in the fake, each sold where the sources say: Cost-Optimized CX and Arm CAX in Germany and Finland only;
 * the newer Regular Performance CPX (x2) in Germany, Finland and Singapore; the older CPX (x1) in the US only (deprecated
 * and removed in Europe at the end of 2025); dedicated CCX everywhere. CX Gen 2 (`cx22`, ...) no longer exists.
 */
export const HETZNER_SERVER_TYPES: readonly HetznerServerTypeSpec[] = [
  type(201, 'cx23', 'Cost-Optimized', 2, 4, 40, 'shared', 'x86', EUROPE),
  type(202, 'cx33', 'Cost-Optimized', 4, 8, 80, 'shared', 'x86', EUROPE),
  type(203, 'cx43', 'Cost-Optimized', 8, 16, 160, 'shared', 'x86', EUROPE),
  type(204, 'cx53', 'Cost-Optimized', 16, 32, 320, 'shared', 'x86', EUROPE),
  type(211, 'cax11', 'Cost-Optimized', 2, 4, 40, 'shared', 'arm', EUROPE),
  type(212, 'cax21', 'Cost-Optimized', 4, 8, 80, 'shared', 'arm', EUROPE),
  type(213, 'cax31', 'Cost-Optimized', 8, 16, 160, 'shared', 'arm', EUROPE),
  type(214, 'cax41', 'Cost-Optimized', 16, 32, 320, 'shared', 'arm', EUROPE),
  type(221, 'cpx12', 'Regular Performance', 1, 2, 40, 'shared', 'x86', [...EUROPE, 'sin']),
  type(222, 'cpx22', 'Regular Performance', 2, 4, 80, 'shared', 'x86', [...EUROPE, 'sin']),
  type(223, 'cpx32', 'Regular Performance', 4, 8, 160, 'shared', 'x86', [...EUROPE, 'sin']),
  type(231, 'cpx11', 'Regular Performance', 2, 2, 40, 'shared', 'x86', US),
  type(232, 'cpx21', 'Regular Performance', 3, 4, 80, 'shared', 'x86', US),
  type(233, 'cpx31', 'Regular Performance', 4, 8, 160, 'shared', 'x86', US),
  type(234, 'cpx41', 'Regular Performance', 8, 16, 240, 'shared', 'x86', US),
  type(235, 'cpx51', 'Regular Performance', 16, 32, 360, 'shared', 'x86', US),
  type(241, 'ccx13', 'General Purpose', 2, 8, 80, 'dedicated', 'x86', EVERYWHERE),
  type(242, 'ccx23', 'General Purpose', 4, 16, 160, 'dedicated', 'x86', EVERYWHERE),
  type(243, 'ccx33', 'General Purpose', 8, 32, 240, 'dedicated', 'x86', EVERYWHERE),
  type(244, 'ccx43', 'General Purpose', 16, 64, 360, 'dedicated', 'x86', EVERYWHERE),
  type(245, 'ccx53', 'General Purpose', 32, 128, 600, 'dedicated', 'x86', EVERYWHERE),
  type(246, 'ccx63', 'General Purpose', 48, 192, 960, 'dedicated', 'x86', EVERYWHERE),
];

function location(
  id: number,
  name: string,
  description: string,
  country: string,
  city: string,
  latitude: number,
  longitude: number,
  network_zone: string,
): HetznerLocation {
  return { id, name, description, country, city, latitude, longitude, network_zone };
}

function type(
  id: number,
  name: string,
  category: string,
  cores: number,
  memory: number,
  disk: number,
  cpu_type: HetznerServerTypeSpec['cpu_type'],
  architecture: HetznerServerTypeSpec['architecture'],
  sold_in: readonly string[],
): HetznerServerTypeSpec {
  return {
    id,
    name,
    description: name.toUpperCase(),
    category,
    cores,
    memory,
    disk,
    cpu_type,
    architecture,
    storage_type: 'local',
    sold_in,
  };
}
