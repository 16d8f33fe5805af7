import assert from "node:assert/strict";
import { type Labels, MetricsRegistry } from "./registry.ts";

/** A clock the test moves by hand, in milliseconds. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => now += ms };
}

/** The sample lines of `text` (no comments). */
function samples(text: string): string[] {
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

// The text format, strictly (the Python parser below is lax): every line,
// HELP then TYPE once per family, sample names of that family only, no
// duplicate series, and histogram buckets that add up. VALUE accepts only
// the number forms render() means to write (Go would also read "1e6").

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = String.raw`[a-zA-Z_][a-zA-Z0-9_]*="(?:[^\\"\n]|\\[\\"n])*"`;
const VALUE = String.raw`(?:[+-]Inf|NaN|-?[0-9]+(?:\.[0-9]+)?(?:e[+-][0-9]+)?)`;
const HELP_LINE = new RegExp(String.raw`^# HELP (${NAME}) (?:[^\\\n]|\\[\\n])*$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram)$`);
const SAMPLE_LINE = new RegExp(String.raw`^(${NAME})(?:\{(${LABEL}(?:,${LABEL})*)\})? (${VALUE})$`);

/** What is wrong with `text` as a 0.0.4 exposition of counters, gauges and histograms. */
function expositionProblems(text: string): string[] {
  if (text === "") return [];
  const problems: string[] = [];
  if (!text.endsWith("\n")) problems.push("no final newline");
  const seenFamilies = new Set<string>();
  const seenSeries = new Set<string>();
  let family = "";
  let type = "";
  let expectType = false;
  /** Per histogram series (labels without le): last cumulative count, +Inf count, _count. */
  const buckets = new Map<string, { last: number; inf?: number; count?: number }>();
  for (const line of text.slice(0, -1).split("\n")) {
    const help = HELP_LINE.exec(line);
    const typed = TYPE_LINE.exec(line);
    const s = SAMPLE_LINE.exec(line);
    if (help) {
      if (seenFamilies.has(help[1])) problems.push(`second HELP for ${help[1]}`);
      seenFamilies.add(help[1]);
      [family, expectType] = [help[1], true];
    } else if (typed) {
      if (!expectType || typed[1] !== family) problems.push(`TYPE not after its HELP: ${line}`);
      [type, expectType] = [typed[2], false];
    } else if (s) {
      const [, name, labels = ""] = s;
      const allowed = type === "histogram"
        ? [`${family}_bucket`, `${family}_sum`, `${family}_count`]
        : [family];
      if (expectType || !allowed.includes(name)) {
        problems.push(`sample outside its family: ${line}`);
      }
      if (seenSeries.has(`${name}{${labels}}`)) problems.push(`duplicate series: ${line}`);
      seenSeries.add(`${name}{${labels}}`);
      if (type !== "histogram") continue;
      const value = Number(s[3]);
      const le = /(?:^|,)le="([^"]*)"$/.exec(labels);
      const key = name.slice(family.length) === "_bucket"
        ? labels.slice(0, le ? le.index : 0)
        : labels;
      const b = buckets.get(`${family}{${key}}`) ?? { last: 0 };
      buckets.set(`${family}{${key}}`, b);
      if (name.endsWith("_bucket")) {
        if (!le) problems.push(`bucket without le: ${line}`);
        else if (value < b.last) problems.push(`bucket count goes down: ${line}`);
        else if (le[1] === "+Inf") b.inf = value;
        b.last = value;
      } else if (name.endsWith("_count")) b.count = value;
    } else {
      problems.push(`bad line: ${JSON.stringify(line)}`);
    }
  }
  for (const [key, b] of buckets) {
    if (b.inf === undefined || b.inf !== b.count) {
      problems.push(`+Inf bucket is not _count: ${key}`);
    }
  }
  return problems;
}

const badExpositions: [name: string, text: string, problem: RegExp][] = [
  ["no final newline", "# HELP x X.\n# TYPE x gauge\nx 1", /no final newline/],
  ["a sample before any TYPE", "x 1\n", /sample outside its family/],
  ["a sample of another family", "# HELP x X.\n# TYPE x gauge\ny 1\n", /outside its family/],
  ["an unescaped newline", '# HELP x X.\n# TYPE x gauge\nx{a="\n"} 1\n', /bad line/],
  ["a value that is not a number", "# HELP x X.\n# TYPE x gauge\nx one\n", /bad line/],
  ["a series twice", '# HELP x X.\n# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n', /duplicate/],
  ["a family twice", "# HELP x X.\n# TYPE x gauge\n# HELP x X.\n# TYPE x gauge\n", /second HELP/],
  [
    "a +Inf bucket that is not _count",
    '# HELP h H.\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',
    /\+Inf bucket is not _count/,
  ],
  [
    "buckets that go down",
    '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n',
    /goes down/,
  ],
];

for (const [name, text, problem] of badExpositions) {
  Deno.test(`expositionProblems() finds ${name}`, () => {
    assert.match(expositionProblems(text).join("\n"), problem);
  });
}

// Rendering

Deno.test("MetricsRegistry.render() writes HELP, TYPE and samples in registration order", () => {
  const r = new MetricsRegistry();
  const smtp = r.counter("postino_smtp_messages_total", "Messages accepted over SMTP.", ["port"]);
  r.gauge("postino_queue_size", "Messages waiting in the outbound queue.");
  const h = r.histogram("postino_delivery_seconds", "Time to deliver a message.", [0.1, 1]);
  smtp.inc({ port: "587" });
  smtp.inc({ port: "25" }, 2);
  h.observe(undefined, 0.5);
  assert.equal(
    r.render(),
    [
      "# HELP postino_smtp_messages_total Messages accepted over SMTP.",
      "# TYPE postino_smtp_messages_total counter",
      'postino_smtp_messages_total{port="25"} 2',
      'postino_smtp_messages_total{port="587"} 1',
      "# HELP postino_queue_size Messages waiting in the outbound queue.",
      "# TYPE postino_queue_size gauge",
      "postino_queue_size 0",
      "# HELP postino_delivery_seconds Time to deliver a message.",
      "# TYPE postino_delivery_seconds histogram",
      'postino_delivery_seconds_bucket{le="0.1"} 0',
      'postino_delivery_seconds_bucket{le="1"} 1',
      'postino_delivery_seconds_bucket{le="+Inf"} 1',
      "postino_delivery_seconds_sum 0.5",
      "postino_delivery_seconds_count 1",
      "",
    ].join("\n"),
  );
});

Deno.test("MetricsRegistry.render() gives an empty text for an empty registry", () => {
  assert.equal(new MetricsRegistry().render(), "");
});

Deno.test("MetricsRegistry.render() writes only HELP and TYPE for a labelled metric without samples", () => {
  const r = new MetricsRegistry();
  r.counter("a_total", "A.", ["x"]);
  r.gauge("b", "B.", ["x"]);
  r.histogram("c", "C.", [1], ["x"]);
  assert.deepEqual(samples(r.render()), []);
  assert.equal(r.render().split("\n").length, 7);
});

Deno.test("MetricsRegistry.render() writes 0 for metrics without labels before any use", () => {
  const r = new MetricsRegistry();
  r.counter("a_total", "A.");
  r.gauge("b", "B.");
  r.histogram("c", "C.", [1]);
  assert.deepEqual(samples(r.render()), [
    "a_total 0",
    "b 0",
    'c_bucket{le="1"} 0',
    'c_bucket{le="+Inf"} 0',
    "c_sum 0",
    "c_count 0",
  ]);
});

Deno.test("MetricsRegistry.render() sorts series by label values, in declared label order", () => {
  const r = new MetricsRegistry();
  const c = r.counter("auth_total", "Logins.", ["proto", "result"]);
  for (
    const [proto, result] of [["smtp", "ok"], ["pop3", "fail"], ["smtp", "fail"], ["imap", "ok"]]
  ) {
    // The object's key order does not matter: the declared order does.
    c.inc({ result, proto });
  }
  c.inc({ proto: "Z", result: "ok" }); // code units: "Z" < "i"
  assert.deepEqual(samples(r.render()), [
    'auth_total{proto="Z",result="ok"} 1',
    'auth_total{proto="imap",result="ok"} 1',
    'auth_total{proto="pop3",result="fail"} 1',
    'auth_total{proto="smtp",result="fail"} 1',
    'auth_total{proto="smtp",result="ok"} 1',
  ]);
});

const values: [value: number, text: string][] = [
  [0, "0"],
  [-0, "0"],
  [1, "1"],
  [-1, "-1"],
  [42, "42"],
  [1_000_000, "1000000"],
  [2 ** 53, "9007199254740992"],
  [1e21, "1000000000000000000000"],
  [-1e22, "-10000000000000000000000"],
  [0.1, "0.1"],
  [0.005, "0.005"],
  [-2.5, "-2.5"],
  [1 / 3, "0.3333333333333333"],
  [0.1 + 0.2, "0.30000000000000004"],
  [123456.789, "123456.789"],
  [1e-7, "1e-7"],
  [5e-324, "5e-324"],
  [Infinity, "+Inf"],
  [-Infinity, "-Inf"],
  [NaN, "NaN"],
];

for (const [value, text] of values) {
  Deno.test(`MetricsRegistry.render() writes the value ${text}`, () => {
    const r = new MetricsRegistry();
    r.gauge("g", "G.").set(undefined, value);
    assert.deepEqual(samples(r.render()), [`g ${text}`]);
    assert.deepEqual(expositionProblems(r.render()), []);
  });
}

const labelValues: [value: string, escaped: string][] = [
  ["plain", "plain"],
  ["", ""],
  ["C:\\mail", "C:\\\\mail"],
  ['say "hi"', 'say \\"hi\\"'],
  ["two\nlines", "two\\nlines"],
  ["\\n", "\\\\n"],
  ['end\\"', 'end\\\\\\"'],
  ["tab\tand\rcr", "tab\tand\rcr"],
  ["a=b,c}{", "a=b,c}{"],
  ["café ✉ 😀", "café ✉ 😀"],
];

for (const [value, escaped] of labelValues) {
  Deno.test(`MetricsRegistry.render() escapes the label value ${JSON.stringify(value)}`, () => {
    const r = new MetricsRegistry();
    r.counter("c_total", "C.", ["v"]).inc({ v: value });
    assert.deepEqual(samples(r.render()), [`c_total{v="${escaped}"} 1`]);
    assert.deepEqual(expositionProblems(r.render()), []);
  });
}

const helps: [help: string, escaped: string][] = [
  ["Plain text.", "Plain text."],
  ["A \\ backslash", "A \\\\ backslash"],
  ["Two\nlines", "Two\\nlines"],
  ['Quotes "stay"', 'Quotes "stay"'],
  ["\\n is not a newline", "\\\\n is not a newline"],
];

for (const [help, escaped] of helps) {
  Deno.test(`MetricsRegistry.render() escapes the HELP text ${JSON.stringify(help)}`, () => {
    const r = new MetricsRegistry();
    r.gauge("g", help);
    assert.equal(r.render().split("\n")[0], `# HELP g ${escaped}`);
    assert.deepEqual(expositionProblems(r.render()), []);
  });
}

// Histograms

Deno.test("MetricsRegistry.histogram() renders cumulative buckets, sum and count per series", () => {
  const r = new MetricsRegistry();
  const h = r.histogram("size_bytes", "Sizes.", [100, 1000, 10_000], ["proto"]);
  for (const v of [50, 100, 101, 5000, 20_000]) h.observe({ proto: "smtp" }, v);
  h.observe({ proto: "imap" }, 1000);
  assert.deepEqual(samples(r.render()), [
    'size_bytes_bucket{proto="imap",le="100"} 0',
    'size_bytes_bucket{proto="imap",le="1000"} 1',
    'size_bytes_bucket{proto="imap",le="10000"} 1',
    'size_bytes_bucket{proto="imap",le="+Inf"} 1',
    'size_bytes_sum{proto="imap"} 1000',
    'size_bytes_count{proto="imap"} 1',
    // 100 falls in le="100": bounds are inclusive.
    'size_bytes_bucket{proto="smtp",le="100"} 2',
    'size_bytes_bucket{proto="smtp",le="1000"} 3',
    'size_bytes_bucket{proto="smtp",le="10000"} 4',
    'size_bytes_bucket{proto="smtp",le="+Inf"} 5',
    'size_bytes_sum{proto="smtp"} 25251',
    'size_bytes_count{proto="smtp"} 5',
  ]);
  assert.deepEqual(expositionProblems(r.render()), []);
});

Deno.test("MetricsRegistry.histogram() writes le as Prometheus clients do", () => {
  const r = new MetricsRegistry();
  r.histogram("h", "H.", [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60]);
  r.histogram("k", "K.", [-1, 0, 1e-7, 1e6]);
  const le = samples(r.render()).flatMap((l) => /le="([^"]*)"/.exec(l)?.[1] ?? []);
  assert.deepEqual(le, [
    ..."0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 60 +Inf".split(" "),
    ..."-1 0 1e-7 1000000 +Inf".split(" "),
  ]);
});

const observations: [name: string, buckets: number[], observed: number[], expected: string[]][] = [
  ["counts NaN only under +Inf", [1], [0.5, NaN], [
    'h_bucket{le="1"} 1',
    'h_bucket{le="+Inf"} 2',
    "h_sum NaN",
    "h_count 2",
  ]],
  ["counts +Infinity only under +Inf", [1], [Infinity], [
    'h_bucket{le="1"} 0',
    'h_bucket{le="+Inf"} 1',
    "h_sum +Inf",
    "h_count 1",
  ]],
  ["drops a trailing Infinity bound", [1, Infinity], [2], [
    'h_bucket{le="1"} 0',
    'h_bucket{le="+Inf"} 1',
    "h_sum 2",
    "h_count 1",
  ]],
  ["takes no bounds: +Inf only", [], [3, -4], [
    'h_bucket{le="+Inf"} 2',
    "h_sum -1",
    "h_count 2",
  ]],
  ["counts values below every bound in the first bucket", [0, 1], [-5, 0], [
    'h_bucket{le="0"} 2',
    'h_bucket{le="1"} 2',
    'h_bucket{le="+Inf"} 2',
    "h_sum -5",
    "h_count 2",
  ]],
];

for (const [name, buckets, observed, expected] of observations) {
  Deno.test(`Histogram.observe() ${name}`, () => {
    const r = new MetricsRegistry();
    const h = r.histogram("h", "H.", buckets);
    for (const v of observed) h.observe(undefined, v);
    assert.deepEqual(samples(r.render()), expected);
  });
}

Deno.test("Histogram.startTimer() observes the seconds since it started", () => {
  const clock = manualClock();
  const r = new MetricsRegistry({ now: clock.now });
  const h = r.histogram("t_seconds", "T.", [0.1, 1], ["step"]);
  const end = h.startTimer({ step: "rcpt" });
  clock.advance(250);
  assert.equal(end(), 0.25);
  clock.advance(1000);
  assert.equal(end(), 1.25, "each call observes again");
  assert.deepEqual(samples(r.render()), [
    't_seconds_bucket{step="rcpt",le="0.1"} 0',
    't_seconds_bucket{step="rcpt",le="1"} 1',
    't_seconds_bucket{step="rcpt",le="+Inf"} 2',
    't_seconds_sum{step="rcpt"} 1.5',
    't_seconds_count{step="rcpt"} 2',
  ]);
});

Deno.test("Histogram.startTimer() uses performance.now by default", async () => {
  const h = new MetricsRegistry().histogram("t_seconds", "T.", [1]);
  const end = h.startTimer();
  await new Promise((resolve) => setTimeout(resolve, 20));
  const seconds = end();
  assert.ok(seconds >= 0.015 && seconds < 60, `${seconds}`);
});

// Counters and gauges

Deno.test("Counter.inc() adds 1 or the given amount, and get() reads it back", () => {
  const r = new MetricsRegistry();
  const plain = r.counter("plain_total", "P.");
  const labelled = r.counter("labelled_total", "L.", ["code"]);
  plain.inc();
  plain.inc(undefined, 2.5);
  plain.inc({}, 0);
  labelled.inc({ code: "250" });
  labelled.inc({ code: "250" }, 4);
  labelled.inc({ code: "550" }, 0);
  assert.equal(plain.get(), 3.5);
  assert.equal(labelled.get({ code: "250" }), 5);
  assert.equal(labelled.get({ code: "421" }), 0, "a series not seen yet");
  assert.deepEqual(samples(r.render()), [
    "plain_total 3.5",
    'labelled_total{code="250"} 5',
    'labelled_total{code="550"} 0',
  ]);
});

Deno.test("Gauge.set(), inc() and dec() move the value both ways", () => {
  const g = new MetricsRegistry().gauge("conns", "C.", ["proto"]);
  g.set({ proto: "imap" }, 10);
  g.inc({ proto: "imap" });
  g.dec({ proto: "imap" }, 4);
  g.dec({ proto: "pop3" });
  assert.equal(g.get({ proto: "imap" }), 7);
  assert.equal(g.get({ proto: "pop3" }), -1);
});

Deno.test("Gauge collect is called at each render to set values", () => {
  const r = new MetricsRegistry();
  let depth = 3;
  let calls = 0;
  r.gauge("queue_size", "Q.", ["domain"], (g) => {
    calls++;
    g.reset();
    if (depth > 0) g.set({ domain: "example.com" }, depth);
  });
  assert.equal(calls, 0);
  assert.deepEqual(samples(r.render()), ['queue_size{domain="example.com"} 3']);
  depth = 0;
  assert.deepEqual(samples(r.render()), [], "reset() drops the series gone away");
  assert.equal(calls, 2);
});

Deno.test("Gauge.reset() puts a gauge without labels back to 0", () => {
  const r = new MetricsRegistry();
  const g = r.gauge("g", "G.");
  g.set(undefined, 5);
  g.reset();
  assert.deepEqual(samples(r.render()), ["g 0"]);
});

// Wrong use

const registrationErrors: [
  name: string,
  register: (r: MetricsRegistry) => unknown,
  error: { name: string; message: RegExp },
][] = [
  ["a name with a space", (r) => r.gauge("bad name", "B."), {
    name: "TypeError",
    message: /^Invalid metric name: "bad name"$/,
  }],
  ["a name starting with a digit", (r) => r.counter("1st_total", "F."), {
    name: "TypeError",
    message: /Invalid metric name/,
  }],
  ["an empty name", (r) => r.gauge("", "E."), {
    name: "TypeError",
    message: /^Invalid metric name: ""$/,
  }],
  ["a counter not ending in _total", (r) => r.counter("requests", "R."), {
    name: "TypeError",
    message: /must end in _total/,
  }],
  ["a label name starting with __", (r) => r.gauge("g", "G.", ["__name"]), {
    name: "TypeError",
    message: /Invalid label name/,
  }],
  ["a label name with a colon", (r) => r.gauge("g", "G.", ["a:b"]), {
    name: "TypeError",
    message: /Invalid label name/,
  }],
  ["a label name with a dash", (r) => r.gauge("g", "G.", ["a-b"]), {
    name: "TypeError",
    message: /Invalid label name/,
  }],
  ["a label name given twice", (r) => r.gauge("g", "G.", ["a", "a"]), {
    name: "TypeError",
    message: /Duplicate label name/,
  }],
  ["le on a histogram", (r) => r.histogram("h", "H.", [1], ["le"]), {
    name: "TypeError",
    message: /"le" is reserved/,
  }],
  ["buckets out of order", (r) => r.histogram("h", "H.", [1, 0.5]), {
    name: "RangeError",
    message: /Invalid buckets/,
  }],
  ["a bucket given twice", (r) => r.histogram("h", "H.", [1, 1]), {
    name: "RangeError",
    message: /Invalid buckets/,
  }],
  ["a NaN bucket", (r) => r.histogram("h", "H.", [NaN]), {
    name: "RangeError",
    message: /Invalid buckets/,
  }],
  ["a -Infinity bucket", (r) => r.histogram("h", "H.", [-Infinity, 1]), {
    name: "RangeError",
    message: /Invalid buckets/,
  }],
];

for (const [name, register, error] of registrationErrors) {
  Deno.test(`MetricsRegistry rejects ${name}`, () => {
    const r = new MetricsRegistry();
    assert.throws(() => register(r), error);
    assert.equal(r.render(), "", "nothing was registered");
  });
}

const duplicates: [
  first: (r: MetricsRegistry) => unknown,
  second: (r: MetricsRegistry) => unknown,
  name: string,
][] = [
  [(r) => r.gauge("x", "X."), (r) => r.gauge("x", "X."), "x"],
  [(r) => r.counter("x_total", "X."), (r) => r.gauge("x_total", "X."), "x_total"],
  [(r) => r.histogram("h", "H.", [1]), (r) => r.gauge("h_count", "C."), "h_count"],
  [(r) => r.gauge("h_bucket", "B."), (r) => r.histogram("h", "H.", [1]), "h_bucket"],
  [(r) => r.histogram("h_sum", "S.", [1]), (r) => r.histogram("h", "H.", [1]), "h_sum"],
];

for (const [first, second, name] of duplicates) {
  Deno.test(`MetricsRegistry rejects a second metric taking the name ${name}`, () => {
    const r = new MetricsRegistry();
    first(r);
    assert.throws(() => second(r), {
      name: "TypeError",
      message: `Duplicate metric name: "${name}"`,
    });
  });
}

Deno.test("MetricsRegistry leaves the name free after a failed registration", () => {
  const r = new MetricsRegistry();
  assert.throws(() => r.histogram("h", "H.", [2, 1]));
  assert.throws(() => r.gauge("g", "G.", ["__x"]));
  r.histogram("h", "H.", [1, 2]);
  r.gauge("g", "G.", ["x"]);
});

const misused = new MetricsRegistry();
const byProto = misused.counter("by_proto_total", "P.", ["proto"]);
const unlabelled = misused.counter("unlabelled_total", "U.");
const gauge = misused.gauge("by_proto", "G.", ["proto", "port"]);
const histogram = misused.histogram("h", "H.", [1], ["proto"]);
const useErrors: [name: string, use: () => unknown, error: { name: string; message: string }][] = [
  ["Counter.inc() without its label", () => byProto.inc(), {
    name: "TypeError",
    message: "Invalid labels for metric by_proto_total: missing proto",
  }],
  ["Counter.inc() with a misnamed label", () => byProto.inc({ protocol: "smtp" }), {
    name: "TypeError",
    message: "Invalid labels for metric by_proto_total: missing proto",
  }],
  ["Counter.inc() with an unknown label", () => byProto.inc({ proto: "smtp", port: "25" }), {
    name: "TypeError",
    message: "Invalid labels for metric by_proto_total: unknown port",
  }],
  ["Counter.inc() with a label the metric has none of", () => unlabelled.inc({ proto: "smtp" }), {
    name: "TypeError",
    message: "Invalid labels for metric unlabelled_total: unknown proto",
  }],
  [
    "Counter.inc() with a number as label value",
    () => byProto.inc({ proto: 25 } as unknown as Labels),
    {
      name: "TypeError",
      message: "Invalid labels for metric by_proto_total: proto is not a string",
    },
  ],
  ["Counter.inc() with a negative amount", () => unlabelled.inc(undefined, -1), {
    name: "RangeError",
    message: "Cannot increase counter unlabelled_total by -1",
  }],
  ["Counter.inc() with NaN", () => unlabelled.inc(undefined, NaN), {
    name: "RangeError",
    message: "Cannot increase counter unlabelled_total by NaN",
  }],
  ["Counter.get() with an unknown label", () => byProto.get({ proto: "smtp", x: "y" }), {
    name: "TypeError",
    message: "Invalid labels for metric by_proto_total: unknown x",
  }],
  ["Gauge.set() with one label of two", () => gauge.set({ proto: "smtp" }, 1), {
    name: "TypeError",
    message: "Invalid labels for metric by_proto: missing port",
  }],
  ["Histogram.observe() without its label", () => histogram.observe(undefined, 1), {
    name: "TypeError",
    message: "Invalid labels for metric h: missing proto",
  }],
  ["Histogram.startTimer() without its label", () => histogram.startTimer({}), {
    name: "TypeError",
    message: "Invalid labels for metric h: missing proto",
  }],
];

for (const [name, use, error] of useErrors) {
  Deno.test(`${name} throws`, () => {
    assert.throws(use, error);
  });
}

Deno.test("MetricsRegistry.contentType is the 0.0.4 text format's", () => {
  assert.equal(MetricsRegistry.contentType, "text/plain; version=0.0.4; charset=utf-8");
});

// The oracle: Debian's python3-prometheus-client parses what render() writes.

/** The system interpreter: python3-prometheus-client is installed for it only. */
const PYTHON = "/usr/bin/python3";

const PARSE_PY = `
import json, math, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("prometheus_client is missing: apt-get install python3-prometheus-client")
def number(v):
    return v if math.isfinite(v) else repr(v)
print(json.dumps([
    {"name": f.name, "type": f.type, "help": f.documentation,
     "samples": [[s.name, s.labels, number(s.value)] for s in f.samples]}
    for f in text_string_to_metric_families(sys.stdin.read())
]))
`;

type Sample = [name: string, labels: Record<string, string>, value: number];
interface ParsedFamily {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

/** The families python3-prometheus-client reads in `text`. */
async function pythonParse(text: string): Promise<ParsedFamily[]> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", PARSE_PY],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await output;
  const decoder = new TextDecoder();
  assert.equal(code, 0, decoder.decode(stderr));
  const special: Record<string, number> = { inf: Infinity, "-inf": -Infinity, nan: NaN };
  const families: ParsedFamily[] = JSON.parse(decoder.decode(stdout));
  for (const f of families) {
    for (const s of f.samples) if (typeof s[2] === "string") s[2] = special[s[2]];
  }
  return families;
}

Deno.test("MetricsRegistry.render() output parses with prometheus_client to the same values", async () => {
  const r = new MetricsRegistry();
  const nasty = 'C:\\dir "quoted"\nnext line, a=b {}';
  r.counter("postino_smtp_replies_total", "Replies sent, by class.\nSecond \\ line.", [
    "proto",
    "class",
  ]).inc({ proto: "smtp", class: nasty }, 3);
  r.counter("postino_idle_total", "Never used.");
  r.gauge("postino_unset", "Labelled, never set.", ["x"]);
  const g = r.gauge("postino_values", "Odd values.", ["v"]);
  for (
    const [v, value] of [["nan", NaN], ["inf", Infinity], ["-inf", -Infinity], ["tiny", 5e-324]]
  ) {
    g.set({ v: v as string }, value as number);
  }
  g.set({ v: "max" }, Number.MAX_VALUE);
  g.set({ v: "third" }, 1 / 3);
  const h = r.histogram("postino_delivery_seconds", "Delivery time.", [0.005, 0.1, 1, 2.5], [
    "result",
  ]);
  for (const v of [0.005, 0.05, 0.1, 3, 100]) h.observe({ result: "ok" }, v);

  const text = r.render();
  assert.deepEqual(expositionProblems(text), []);
  const bucket = (le: string, value: number): Sample => [
    "postino_delivery_seconds_bucket",
    { result: "ok", le },
    value,
  ];
  assert.deepEqual(await pythonParse(text), [
    {
      // prometheus_client names a counter's family without _total.
      name: "postino_smtp_replies",
      type: "counter",
      help: "Replies sent, by class.\nSecond \\ line.",
      samples: [["postino_smtp_replies_total", { proto: "smtp", class: nasty }, 3]],
    },
    {
      name: "postino_idle",
      type: "counter",
      help: "Never used.",
      samples: [["postino_idle_total", {}, 0]],
    },
    { name: "postino_unset", type: "gauge", help: "Labelled, never set.", samples: [] },
    {
      name: "postino_values",
      type: "gauge",
      help: "Odd values.",
      samples: [
        ["postino_values", { v: "-inf" }, -Infinity],
        ["postino_values", { v: "inf" }, Infinity],
        ["postino_values", { v: "max" }, Number.MAX_VALUE],
        ["postino_values", { v: "nan" }, NaN],
        ["postino_values", { v: "third" }, 1 / 3],
        ["postino_values", { v: "tiny" }, 5e-324],
      ],
    },
    {
      name: "postino_delivery_seconds",
      type: "histogram",
      help: "Delivery time.",
      samples: [
        bucket("0.005", 1),
        bucket("0.1", 3),
        bucket("1", 3),
        bucket("2.5", 3),
        bucket("+Inf", 5),
        ["postino_delivery_seconds_sum", { result: "ok" }, 0.005 + 0.05 + 0.1 + 3 + 100],
        ["postino_delivery_seconds_count", { result: "ok" }, 5],
      ],
    },
  ]);
});

/** A seeded PRNG (mulberry32), so a failure repeats. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("MetricsRegistry.render() round-trips random label values and numbers through prometheus_client", async () => {
  const random = prng(20_260_101);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const chars = [...'az_09 \\"\n\r\t,={}#é✉😀\u2028'];
  const bits = new DataView(new ArrayBuffer(8));
  const number = (): number => {
    const kind = random();
    if (kind < 0.2) return pick([0, -0, 1, NaN, Infinity, -Infinity, 2 ** 53, 1e21, 0.1]);
    if (kind < 0.5) return Math.round((random() - 0.5) * 10 ** Math.floor(random() * 25));
    if (kind < 0.7) return (random() - 0.5) * 10 ** (Math.floor(random() * 60) - 30);
    for (let i = 0; i < 8; i++) bits.setUint8(i, Math.floor(random() * 256));
    return bits.getFloat64(0); // any double at all, subnormals and huge ones too
  };
  const r = new MetricsRegistry();
  const g = r.gauge("fuzz", "Random.", ["a", "b"]);
  const expected = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const labels = {
      a: Array.from({ length: Math.floor(random() * 8) }, () => pick(chars)).join(""),
      b: pick(["x", "y", "\\", '"', "\n"]),
    };
    const value = number();
    g.set(labels, value);
    // -0 is written as 0.
    expected.set(JSON.stringify([labels.a, labels.b]), Object.is(value, -0) ? 0 : value);
  }
  const text = r.render();
  assert.deepEqual(expositionProblems(text), []);
  const [family, ...rest] = await pythonParse(text);
  assert.deepEqual(rest, []);
  const parsed = new Map(family.samples.map(([, l, v]) => [JSON.stringify([l.a, l.b]), v]));
  assert.equal(family.samples.length, expected.size);
  assert.deepEqual(parsed, expected);
});
