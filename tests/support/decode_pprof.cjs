// Decodes a pprof profile (gzip-compressed or not) from standard input with npm's
// `pprof-format` (a third-party reader, found under $PPROF_FORMAT_MODULES) and prints it as
// JSON: sample types, period, time, and each sample's stack (function names, leaf first),
// values and labels. Used by tests/scripts/push_sink.py.
const path = require('path');
const zlib = require('zlib');
const { Profile } = require(path.join(process.env.PPROF_FORMAT_MODULES, 'pprof-format'));

const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  let data = Buffer.concat(chunks);
  if (data[0] === 0x1f && data[1] === 0x8b) data = zlib.gunzipSync(data);
  const p = Profile.decode(new Uint8Array(data));
  const str = (i) => p.stringTable.strings[Number(i)];
  const functions = new Map(p.function.map((f) => [Number(f.id), f]));
  const locations = new Map(p.location.map((l) => [Number(l.id), l]));
  const frame = (id) => {
    const line = locations.get(Number(id)).line[0];
    const f = functions.get(Number(line.functionId));
    return { name: str(f.name), file: str(f.filename), line: Number(line.line) };
  };
  const out = {
    sample_types: p.sampleType.map((t) => [str(t.type), str(t.unit)]),
    period_type: p.periodType ? [str(p.periodType.type), str(p.periodType.unit)] : null,
    period: Number(p.period),
    time_nanos: Number(p.timeNanos),
    duration_nanos: Number(p.durationNanos),
    samples: p.sample.map((s) => ({
      stack: s.locationId.map(frame),
      values: s.value.map(Number),
      labels: Object.fromEntries(s.label.map((l) => [str(l.key), Number(l.str) ? str(l.str) : Number(l.num)])),
    })),
  };
  process.stdout.write(JSON.stringify(out));
});
