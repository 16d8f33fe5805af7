/**
 * A small registry of Prometheus metrics and their text exposition (format
 * version 0.0.4), in place of prom-client, whose import alone costs more
 * memory than the whole HTTP layer may use.
 *
 * Invariants:
 * - The text is deterministic: metrics in registration order; within a
 *   metric, series sorted by their label values (in declared label order,
 *   comparing UTF-16 code units), so it does not depend on which series was
 *   touched first.
 * - A metric without labels always has its one series, starting at 0. One
 *   with labels has none until first used, and renders only HELP and TYPE.
 * - A series lives as long as the registry (or until Gauge.reset()), so label
 *   cardinality is the caller's responsibility: use labels with a small,
 *   fixed set of values (protocol, result, reply class), never addresses,
 *   domains or message IDs.
 * - Wrong use (a bad name, a missing or unknown label, a counter going down)
 *   throws: it is a programming error, not something to recover from.
 *
 * Format: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */

/** Label values by label name; must hold exactly the metric's declared label names. */
export type Labels = Readonly<Record<string, string>>;

/** A value that only goes up (messages delivered, logins refused). */
export interface Counter {
  /**
   * Adds `value` (default 1; negative or NaN throws) to the series for
   * `labels`. `inc(labels, 0)` makes a series show as 0 before its first event.
   */
  inc(labels?: Labels, value?: number): void;
  /** The current value for `labels` (0 for a series not seen yet). */
  get(labels?: Labels): number;
}

/** A value that goes up and down (queue size, open connections, RSS). */
export interface Gauge {
  /** Sets the series for `labels` to `value` (any number, NaN and ±Infinity included). */
  set(labels: Labels | undefined, value: number): void;
  /** Adds `value` (default 1) to the series for `labels`. */
  inc(labels?: Labels, value?: number): void;
  /** Subtracts `value` (default 1) from the series for `labels`. */
  dec(labels?: Labels, value?: number): void;
  /** The current value for `labels` (0 for a series not seen yet). */
  get(labels?: Labels): number;
  /**
   * Forgets every series (one without labels goes back to 0): call it first
   * in a `collect` callback so that label values gone away stop showing.
   */
  reset(): void;
}

/** Counts observations into buckets (durations, sizes). */
export interface Histogram {
  /**
   * Counts `value` in the first bucket whose upper bound is >= it, and in
   * `_sum` and `_count`. As in the Go client, NaN counts only under +Inf and
   * makes the sum NaN.
   */
  observe(labels: Labels | undefined, value: number): void;
  /**
   * A timer: call the returned function to observe the seconds since (each
   * call observes once more); it also returns them.
   */
  startTimer(labels?: Labels): () => number;
}

/** MetricsRegistry options. */
export interface MetricsRegistryOptions {
  /** The clock of Histogram.startTimer(), in milliseconds. @default performance.now */
  now?: () => number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Metrics, rendered in the Prometheus text format at each scrape. */
export class MetricsRegistry {
  /** The Content-Type to serve render() with. */
  static readonly contentType = "text/plain; version=0.0.4; charset=utf-8";

  readonly #now: () => number;
  readonly #metrics: Metric[] = [];
  /** Every sample name taken, so that a histogram `x` and a gauge `x_count` cannot clash. */
  readonly #names = new Set<string>();

  constructor(options: MetricsRegistryOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
  }

  /** A counter; its name must match [a-zA-Z_:][a-zA-Z0-9_:]* and end in _total. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    checkMetricName(name);
    if (!name.endsWith("_total")) {
      throw new TypeError(`Invalid counter name: ${JSON.stringify(name)} (must end in _total)`);
    }
    const family = this.#family(name, help, "counter", labelNames, [name], numberSeries);
    return this.#add(new CounterMetric(family));
  }

  /** A gauge; `collect`, if given, is called at each render() to set its values. */
  gauge(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    collect?: (gauge: Gauge) => void,
  ): Gauge {
    checkMetricName(name);
    const family = this.#family(name, help, "gauge", labelNames, [name], numberSeries);
    return this.#add(new GaugeMetric(family, collect));
  }

  /**
   * A histogram with the given upper bounds: finite and increasing; +Inf is
   * implicit (a trailing Infinity is allowed and dropped). The label name
   * `le` is reserved.
   */
  histogram(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly string[] = [],
  ): Histogram {
    checkMetricName(name);
    if (labelNames.includes("le")) {
      throw new TypeError(`Invalid label name for histogram ${name}: "le" is reserved`);
    }
    const bounds = upperBounds(name, buckets);
    const family = this.#family(
      name,
      help,
      "histogram",
      labelNames,
      [`${name}_bucket`, `${name}_sum`, `${name}_count`],
      (values, text) => ({
        values,
        text,
        counts: new Array(bounds.length + 1).fill(0),
        sum: 0,
        count: 0,
      }),
    );
    return this.#add(new HistogramMetric(family, bounds, this.#now));
  }

  /**
   * The exposition text: for each metric `# HELP`, `# TYPE`, then its
   * samples. Ends with a newline (empty when nothing is registered).
   * Gauges' `collect` callbacks run here; an exception from one propagates.
   */
  render(): string {
    const lines: string[] = [];
    for (const metric of this.#metrics) metric.render(lines);
    return lines.length === 0 ? "" : lines.join("\n") + "\n";
  }

  #family<S extends Series>(
    name: string,
    help: string,
    type: string,
    labelNames: readonly string[],
    sampleNames: string[],
    make: (values: readonly string[], text: string) => S,
  ): Family<S> {
    checkLabelNames(name, labelNames);
    for (const taken of [name, ...sampleNames]) {
      if (this.#names.has(taken)) {
        throw new TypeError(`Duplicate metric name: ${JSON.stringify(taken)}`);
      }
    }
    this.#names.add(name);
    for (const n of sampleNames) this.#names.add(n);
    return new Family(name, help, type, labelNames, make);
  }

  #add<M extends Metric>(metric: M): M {
    this.#metrics.push(metric);
    return metric;
  }
}

/** One series: its label values and their rendered `name="value",...` text. */
interface Series {
  readonly values: readonly string[];
  readonly text: string;
}

interface NumberSeries extends Series {
  value: number;
}

interface HistogramSeries extends Series {
  /** Per bucket, not cumulative; the last one is +Inf. */
  readonly counts: number[];
  sum: number;
  count: number;
}

interface Metric {
  render(lines: string[]): void;
}

function numberSeries(values: readonly string[], text: string): NumberSeries {
  return { values, text, value: 0 };
}

/** A metric's name, header and series, keyed by label values. */
class Family<S extends Series> {
  readonly name: string;
  readonly #labelNames: readonly string[];
  readonly #header: string;
  readonly #make: (values: readonly string[], text: string) => S;
  readonly #series = new Map<string, S>();

  constructor(
    name: string,
    help: string,
    type: string,
    labelNames: readonly string[],
    make: (values: readonly string[], text: string) => S,
  ) {
    this.name = name;
    this.#labelNames = [...labelNames];
    this.#header = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}`;
    this.#make = make;
    this.reset();
  }

  /** The series for `labels`, made on first use. */
  series(labels: Labels | undefined): S {
    const values = this.#values(labels);
    const key = seriesKey(values);
    let series = this.#series.get(key);
    if (!series) {
      const text = values.map((v, i) => `${this.#labelNames[i]}="${escapeLabelValue(v)}"`);
      series = this.#make(values, text.join(","));
      this.#series.set(key, series);
    }
    return series;
  }

  /** The series for `labels` if it exists. */
  find(labels: Labels | undefined): S | undefined {
    return this.#series.get(seriesKey(this.#values(labels)));
  }

  reset(): void {
    this.#series.clear();
    if (this.#labelNames.length === 0) this.series(undefined);
  }

  /** Pushes the HELP and TYPE lines, then returns the series in render order. */
  begin(lines: string[]): S[] {
    lines.push(this.#header);
    const all = [...this.#series.values()];
    return all.length > 1 ? all.sort(compareSeries) : all;
  }

  /** The label values of `labels`, in declared order; throws unless it holds exactly the declared names. */
  #values(labels: Labels | undefined): string[] {
    const given = labels ?? {};
    const values = this.#labelNames.map((n) => {
      const v = Object.hasOwn(given, n) ? given[n] : undefined;
      if (v === undefined) {
        throw new TypeError(`Invalid labels for metric ${this.name}: missing ${n}`);
      }
      if (typeof v !== "string") {
        throw new TypeError(`Invalid labels for metric ${this.name}: ${n} is not a string`);
      }
      return v;
    });
    const keys = Object.keys(given);
    if (keys.length !== values.length) {
      const unknown = keys.find((k) => !this.#labelNames.includes(k)) ?? keys.join(",");
      throw new TypeError(`Invalid labels for metric ${this.name}: unknown ${unknown}`);
    }
    return values;
  }
}

class CounterMetric implements Counter {
  readonly #family: Family<NumberSeries>;

  constructor(family: Family<NumberSeries>) {
    this.#family = family;
  }

  inc(labels?: Labels, value = 1): void {
    if (!(value >= 0)) {
      throw new RangeError(`Cannot increase counter ${this.#family.name} by ${value}`);
    }
    this.#family.series(labels).value += value;
  }

  get(labels?: Labels): number {
    return this.#family.find(labels)?.value ?? 0;
  }

  render(lines: string[]): void {
    renderNumbers(this.#family, lines);
  }
}

class GaugeMetric implements Gauge {
  readonly #family: Family<NumberSeries>;
  readonly #collect?: (gauge: Gauge) => void;

  constructor(family: Family<NumberSeries>, collect?: (gauge: Gauge) => void) {
    this.#family = family;
    this.#collect = collect;
  }

  set(labels: Labels | undefined, value: number): void {
    this.#family.series(labels).value = value;
  }

  inc(labels?: Labels, value = 1): void {
    this.#family.series(labels).value += value;
  }

  dec(labels?: Labels, value = 1): void {
    this.#family.series(labels).value -= value;
  }

  get(labels?: Labels): number {
    return this.#family.find(labels)?.value ?? 0;
  }

  reset(): void {
    this.#family.reset();
  }

  render(lines: string[]): void {
    this.#collect?.(this);
    renderNumbers(this.#family, lines);
  }
}

class HistogramMetric implements Histogram {
  readonly #family: Family<HistogramSeries>;
  readonly #bounds: readonly number[];
  /** The `le` label values, "+Inf" last. */
  readonly #le: readonly string[];
  readonly #now: () => number;

  constructor(family: Family<HistogramSeries>, bounds: readonly number[], now: () => number) {
    this.#family = family;
    this.#bounds = bounds;
    this.#le = [...bounds, Infinity].map(formatValue);
    this.#now = now;
  }

  observe(labels: Labels | undefined, value: number): void {
    this.#observe(this.#family.series(labels), value);
  }

  startTimer(labels?: Labels): () => number {
    const series = this.#family.series(labels);
    const start = this.#now();
    return () => {
      const seconds = (this.#now() - start) / 1000;
      this.#observe(series, seconds);
      return seconds;
    };
  }

  #observe(series: HistogramSeries, value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    if (Number.isNaN(value)) i = bounds.length;
    else while (i < bounds.length && value > bounds[i]) i++;
    series.counts[i]++;
    series.sum += value;
    series.count++;
  }

  render(lines: string[]): void {
    const name = this.#family.name;
    for (const s of this.#family.begin(lines)) {
      const prefix = s.text === "" ? "" : s.text + ",";
      let cumulative = 0;
      for (let i = 0; i < this.#le.length; i++) {
        cumulative += s.counts[i];
        lines.push(`${name}_bucket{${prefix}le="${this.#le[i]}"} ${formatValue(cumulative)}`);
      }
      lines.push(sample(`${name}_sum`, s.text, s.sum), sample(`${name}_count`, s.text, s.count));
    }
  }
}

function renderNumbers(family: Family<NumberSeries>, lines: string[]): void {
  for (const s of family.begin(lines)) lines.push(sample(family.name, s.text, s.value));
}

function sample(name: string, labelText: string, value: number): string {
  return labelText === ""
    ? `${name} ${formatValue(value)}`
    : `${name}{${labelText}} ${formatValue(value)}`;
}

/**
 * A sample value or `le` bound as the text format writes it: "NaN", "+Inf",
 * "-Inf"; integers in full, without exponent (-0 as "0"); other numbers in
 * the shortest form that reads back exactly ("0.005", "1e-7"), as prom-client
 * does. (The Go client writes 1e+06 where this writes 1000000: both parse alike.)
 */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  // String() would write 1e+21 and up with an exponent.
  if (Number.isInteger(value) && Math.abs(value) >= 1e21) return BigInt(value).toString();
  return String(value);
}

function seriesKey(values: readonly string[]): string {
  return values.length === 1 ? values[0] : JSON.stringify(values);
}

function compareSeries(a: Series, b: Series): number {
  for (let i = 0; i < a.values.length; i++) {
    if (a.values[i] !== b.values[i]) return a.values[i] < b.values[i] ? -1 : 1;
  }
  return 0;
}

function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : "\\" + c);
}

function checkMetricName(name: string): void {
  if (!METRIC_NAME.test(name)) throw new TypeError(`Invalid metric name: ${JSON.stringify(name)}`);
}

function checkLabelNames(metric: string, labelNames: readonly string[]): void {
  for (const [i, n] of labelNames.entries()) {
    if (!LABEL_NAME.test(n) || n.startsWith("__")) {
      throw new TypeError(`Invalid label name for metric ${metric}: ${JSON.stringify(n)}`);
    }
    if (labelNames.indexOf(n) !== i) {
      throw new TypeError(`Duplicate label name for metric ${metric}: ${JSON.stringify(n)}`);
    }
  }
}

function upperBounds(metric: string, buckets: readonly number[]): number[] {
  const bounds = buckets.at(-1) === Infinity ? buckets.slice(0, -1) : [...buckets];
  for (const [i, b] of bounds.entries()) {
    if (!Number.isFinite(b) || (i > 0 && b <= bounds[i - 1])) {
      throw new RangeError(
        `Invalid buckets for histogram ${metric}: ${
          buckets.join(", ")
        } (must be finite and increasing)`,
      );
    }
  }
  return bounds;
}
