// How figures read: durations, sizes, times, counts, and a config value as YAML.

export function number(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—';
}

export function rate(n) {
  if (!Number.isFinite(n)) return '—';
  return n >= 100 ? number(n) : n.toFixed(1);
}

export function percent(part, whole) {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : '—';
}

export function bytes(n) {
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

/** Two units at most: `3 d 4 h`, `5 min 2 s`. */
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return '—';
  const units = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]];
  const parts = [];
  let rest = Math.max(0, Math.floor(seconds));
  for (const [name, size] of units) {
    if (rest >= size || (name === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)} ${name}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** Local time of a Unix time (seconds): `14:03:07`, with the date when not today. */
export function clock(unix) {
  if (!Number.isFinite(unix)) return '—';
  const date = new Date(unix * 1000);
  const time = date.toLocaleTimeString('en-GB', { hour12: false });
  return date.toDateString() === new Date().toDateString() ? time : `${date.toISOString().slice(0, 10)} ${time}`;
}

export function isoTime(unix) {
  return Number.isFinite(unix) ? new Date(unix * 1000).toISOString() : '';
}

const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;
// What YAML 1.2's core schema reads as a number.
const NUMERIC = /^([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|0x[0-9a-f]+|0o[0-7]+|[-+]?\.inf|\.nan)$/i;

/** A string as a YAML scalar: plain when that reads back as the same string, else quoted. */
function yamlString(s) {
  const plain =
    s !== '' &&
    !RESERVED.test(s) &&
    !NUMERIC.test(s) &&
    /^[A-Za-z0-9_./][^\n]*$/.test(s) &&
    !/[:#]\s|\s$|:$|[{}[\],&*!|>'"%`]/.test(s);
  return plain ? s : JSON.stringify(s);
}

function scalar(value) {
  if (value === null) return 'null';
  if (typeof value === 'string') return yamlString(value);
  return String(value);
}

/** A JSON value as block-style YAML. */
export function yaml(value, indent = '') {
  if (Array.isArray(value)) {
    if (value.length === 0) return `${indent}[]\n`;
    return value
      .map((item) => {
        if (item !== null && typeof item === 'object' && Object.keys(item).length > 0) {
          const nested = yaml(item, indent + '  ');
          return `${indent}- ${nested.slice(indent.length + 2)}`;
        }
        return `${indent}- ${inline(item)}\n`;
      })
      .join('');
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0) return `${indent}{}\n`;
    return entries
      .map(([key, item]) => {
        const name = yamlString(key);
        if (item !== null && typeof item === 'object' && Object.keys(item).length > 0) {
          return `${indent}${name}:\n${yaml(item, indent + '  ')}`;
        }
        return `${indent}${name}: ${inline(item)}\n`;
      })
      .join('');
  }
  return `${indent}${scalar(value)}\n`;
}

function inline(value) {
  if (Array.isArray(value)) return '[]';
  if (value !== null && typeof value === 'object') return '{}';
  return scalar(value);
}
