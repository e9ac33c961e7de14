// The query-rate chart (uPlot, a small canvas time-series library, vendored) and the bar
// tables of the latency histogram and the answers by rcode (plain table rows: readable by
// screen readers and in any width, no canvas needed for a dozen bars).

/** Colours from the style sheet, so the chart follows the light or dark theme. */
function palette() {
  const style = getComputedStyle(document.documentElement);
  const get = (name) => style.getPropertyValue(name).trim();
  return {
    text: get('--muted'),
    grid: get('--grid'),
    series: [get('--accent'), get('--series-1'), get('--series-2'), get('--series-3'), get('--series-4'), get('--series-5')],
  };
}

/** Queries per second over time: the total and one line per worker. */
export class RateChart {
  constructor(element) {
    this.element = element;
    this.names = null;
    this.plot = null;
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(element);
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      this.plot?.destroy();
      this.plot = null;
      this.names = null;
    });
  }

  size() {
    const width = Math.max(240, this.element.clientWidth);
    return { width, height: width < 500 ? 180 : 240 };
  }

  /** `times` in Unix seconds; `series` maps a name to rates aligned with `times`. */
  update(times, series) {
    const names = Object.keys(series);
    if (!this.plot || names.join() !== this.names) {
      this.plot?.destroy();
      this.names = names.join();
      this.plot = this.create(names);
    }
    this.plot.setData([times, ...names.map((n) => series[n])]);
    // What is plotted, readable without looking at pixels (by the browser tests, and by anyone
    // inspecting the page): the number of points, the series, and the latest total.
    const total = series.total ?? [];
    this.element.dataset.points = String(times.length);
    this.element.dataset.series = names.join(' ');
    this.element.dataset.latestTotal = String(total.length ? total[total.length - 1] : 0);
  }

  create(names) {
    const colours = palette();
    const axis = { stroke: colours.text, grid: { stroke: colours.grid, width: 1 }, ticks: { stroke: colours.grid } };
    return new globalThis.uPlot(
      {
        ...this.size(),
        cursor: { drag: { x: false, y: false } },
        scales: { y: { range: (_, min, max) => [0, Math.max(10, max * 1.1)] } },
        axes: [axis, { ...axis, size: 56, values: (_, ticks) => ticks.map((t) => t.toLocaleString('en-US')) }],
        series: [
          {},
          ...names.map((name, i) => ({
            label: name,
            stroke: colours.series[i % colours.series.length],
            width: i === 0 ? 2 : 1,
            dash: i === 0 ? undefined : [4, 3],
            value: (_, v) => (v == null ? '—' : v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1)),
          })),
        ],
      },
      [[], ...names.map(() => [])],
      this.element,
    );
  }
}

/** Fills `tbody` with one row per `[label, count]`: the count, its share, and a bar. */
export function bars(tbody, rows) {
  const total = rows.reduce((sum, [, count]) => sum + count, 0);
  const largest = Math.max(1, ...rows.map(([, count]) => count));
  tbody.replaceChildren(
    ...rows.map(([label, count]) => {
      const row = document.createElement('tr');
      const name = document.createElement('th');
      name.scope = 'row';
      name.textContent = label;
      const value = document.createElement('td');
      value.className = 'count';
      value.textContent = count.toLocaleString('en-US');
      const share = document.createElement('td');
      share.className = 'share';
      share.textContent = total > 0 ? `${((100 * count) / total).toFixed(1)} %` : '—';
      const barCell = document.createElement('td');
      barCell.className = 'bar';
      barCell.setAttribute('aria-hidden', 'true');
      const bar = document.createElement('span');
      bar.style.width = `${(100 * count) / largest}%`;
      barCell.append(bar);
      row.append(name, value, share, barCell);
      return row;
    }),
  );
}
