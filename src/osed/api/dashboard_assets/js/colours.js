// Colour scales of the network view: voltage in pu against its limits, branch loading.

function mix(a, b, t) {
  const channel = (i) => Math.round(a[i] + (b[i] - a[i]) * t);
  return `rgb(${channel(0)}, ${channel(1)}, ${channel(2)})`;
}

const LOW = [33, 102, 172]; // blue: under voltage
const MID = [77, 175, 74]; // green: nominal
const HIGH = [215, 48, 39]; // red: over voltage
export const NO_VALUE = "#b8c0cc";

/** The colour of a voltage in pu: green at 1, towards blue at the lower limit and red at the
 * upper one; beyond a limit the limit's colour, darker. */
export function voltageColour(pu, [lower, upper]) {
  if (pu === null || pu === undefined || !Number.isFinite(pu)) return NO_VALUE;
  if (pu < lower) return "rgb(8, 48, 107)";
  if (pu > upper) return "rgb(127, 0, 0)";
  return pu < 1 ? mix(MID, LOW, (1 - pu) / (1 - lower)) : mix(MID, HIGH, (pu - 1) / (upper - 1));
}

/** The colour of a loading share: grey to orange up to the limit, red beyond. */
export function loadingColour(share, limit = 1) {
  if (share === null || share === undefined || !Number.isFinite(share)) return NO_VALUE;
  if (share > limit) return "rgb(198, 40, 40)";
  return mix([120, 144, 156], [239, 108, 0], Math.max(0, share) / limit);
}

/** Of a node's estimate, the voltage farthest from 1 pu. */
export function worstVoltage(estimate) {
  if (!estimate) return null;
  const high = estimate.voltage_max_pu;
  const low = estimate.voltage_min_pu;
  if (high === null || high === undefined) return low ?? null;
  if (low === null || low === undefined) return high;
  return high - 1 >= 1 - low ? high : low;
}
