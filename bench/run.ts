/**
 * `npm run bench`: generates its own synthetic corpus and prints the figures each target is
 * judged by. Needs the local PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { benchParse } from './parse.js';
import { benchHugeReport, benchIngestPostgres } from './ingest.js';
import { benchMailbox } from './mailbox.js';
import { benchApi } from './api.js';
import { benchDashboard } from './dashboard.js';

const only = process.argv.slice(2);
const want = (name: string) => only.length === 0 || only.includes(name);

function row(label: string, value: string, target: string, ok: boolean): void {
  console.log(`${ok ? 'PASS' : 'MISS'}  ${label.padEnd(46)} ${value.padStart(16)}   target ${target}`);
}

if (want('parse')) {
  const p = await benchParse();
  row('aggregate parse, one core', `${Math.round(p.recordsPerSecond).toLocaleString('en')} rec/s`, '≥ 75,000 rec/s', p.recordsPerSecond >= 75_000);
  console.log(`      (${p.mbPerSecond.toFixed(1)} MB/s of XML, peak RSS ${Math.round(p.peakRssMb)} MB)`);
}
if (want('ingest')) {
  const i = await benchIngestPostgres();
  row('full ingest into PostgreSQL', `${Math.round(i.recordsPerSecond).toLocaleString('en')} rec/s`, '≥ 50,000 rec/s', i.recordsPerSecond >= 50_000);
  row('re-import of the same corpus', `${i.reimportSpeedup.toFixed(1)}× faster`, '≥ 10×', i.reimportSpeedup >= 10);
  console.log(`      (${i.reports} reports, ${i.records.toLocaleString('en')} records: first ${i.firstSeconds.toFixed(2)} s, again ${i.reimportSeconds.toFixed(2)} s)`);
  console.log(
    `      (then the fold job: ${i.folded.toLocaleString('en')} rollup increments in ${i.foldSeconds.toFixed(2)} s; ` +
      `ingest and fold back to back: ${Math.round(i.records / (i.firstSeconds + i.foldSeconds)).toLocaleString('en')} rec/s)`,
  );
}
if (want('huge')) {
  const h = await benchHugeReport(200);
  row('one 200 MB aggregate report, peak RSS', `${Math.round(h.peakRssMb)} MB`, '≤ 300 MB', h.peakRssMb <= 300);
  console.log(`      (${h.mb.toFixed(0)} MB, ${h.records.toLocaleString('en')} records in ${h.seconds.toFixed(1)} s)`);
}
if (want('mailbox')) {
  const m = await benchMailbox();
  row(`first poll of a ${m.messages.toLocaleString('en')}-message folder (Dovecot)`, `${m.firstPollSeconds.toFixed(1)} s`, '≤ 60 s', m.firstPollSeconds <= 60);
  row('incremental poll of the unchanged folder', `${m.incrementalPollSeconds.toFixed(2)} s`, '≤ 1 s', m.incrementalPollSeconds <= 1);
  const drift = m.rssSecondHalfPeakMb - m.rssFirstHalfPeakMb;
  row('memory drift, 2nd half of the poll vs 1st half', `${Math.round(drift)} MB`, 'flat (≤ 25 MB)', drift <= 25);
  console.log(
    `      (RSS start ${Math.round(m.rssStartMb)} MB, peak 1st half ${Math.round(m.rssFirstHalfPeakMb)} MB, 2nd half ${Math.round(m.rssSecondHalfPeakMb)} MB, end ${Math.round(m.rssEndMb)} MB)`,
  );
}
if (want('api')) {
  const a = await benchApi();
  row('API report list (50 items), API key, PostgreSQL', `${Math.round(a.requestsPerSecond).toLocaleString('en')} req/s`, '≥ 1,500 req/s', a.requestsPerSecond >= 1500);
  row('  its p99 latency', `${a.p99Ms.toFixed(1)} ms`, '≤ 50 ms', a.p99Ms <= 50);
  console.log(`      (wrk, ${a.connections} connections for ${a.seconds} s against \`dmarcwatch serve\`; p50 ${a.p50Ms.toFixed(1)} ms; ${a.errors} errors; ${a.reports} reports stored)`);
}
if (want('dashboard')) {
  const d = await benchDashboard();
  console.log(`      (${d.records.toLocaleString('en')} records, ${d.rollupRows.toLocaleString('en')} daily rollup rows, generated in ${d.generateSeconds.toFixed(0)} s)`);
  console.log(`      (load average when measured: ${d.loadAverage.map((n) => n.toFixed(2)).join(', ')})`);
  for (const t of d.pages) row(`${t.label}, server time p95`, `${t.p95Ms.toFixed(1)} ms`, '≤ 100 ms', t.p95Ms <= 100);
  for (const t of d.queries) row(`${t.label}, p95`, `${t.p95Ms.toFixed(1)} ms`, '≤ 50 ms', t.p95Ms <= 50);
  for (const t of d.fromRawRecords) console.log(`      for comparison, ${t.label}: p50 ${t.p50Ms.toFixed(0)} ms, p95 ${t.p95Ms.toFixed(0)} ms`);
}
