/**
 * Metrics on OpenTelemetry (#22): `npx tsx examples/metrics.ts`.
 *
 * A server whose manager is measured by `ws-lifecycle/metrics`, with the
 * OpenTelemetry SDK and its Prometheus exporter serving `/metrics` beside
 * the WebSockets on `/ws`. It runs a short scripted load (connections,
 * sends, refusals, a broadcast, publishes, a tab that drops and resumes, a
 * store that goes down for one publish: examples/metrics/load.ts), scrapes
 * its own `/metrics` and prints the Prometheus exposition to stdout; what
 * the load did, counted on its side, goes to stderr as one JSON line
 * (`load: {...}`), with the server's log. Then it drains and exits.
 * `PORT=9464 npx tsx examples/metrics.ts --serve` keeps serving `/metrics`
 * after the load, for a Prometheus (and docs/grafana-dashboard.json) to read.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { pino } from 'pino';
import { attachToServer } from '../src/adapters/http.js';
import { LifecycleMetrics } from '../src/metrics/lifecycle-metrics.js';
import { userFromQuery } from './identify.js';
import { KEPT_PER_TOPIC, MAX_BUFFERED_BYTES, NAMED_TOPIC, runLoad } from './metrics/load.js';
import { OutageStore } from './metrics/outage-store.js';

const serve = process.argv.includes('--serve');
// Listened for from the start: a signal during the load ends the serving after it, never the process half-way.
const stopped = serve ? new Promise((resolve) => ['SIGINT', 'SIGTERM'].forEach((signal) => process.once(signal, resolve))) : Promise.resolve();
// The exporter serves through this example's own server: one port for /ws and /metrics.
const exporter = new PrometheusExporter({ preventServerStart: true });
const provider = new MeterProvider({ readers: [exporter] });
const store = new OutageStore({ maxEntriesPerTopic: KEPT_PER_TOPIC });
const server = createServer((request, response) => {
  if (request.url === '/metrics') return exporter.getMetricsRequestHandler(request, response);
  response.writeHead(404).end();
});
const lifecycle = attachToServer(server, {
  path: '/ws',
  identify: userFromQuery,
  manager: {
    // stdout is the exposition's: the log goes to stderr.
    logger: pino({ level: 'warn' }, pino.destination(2)),
    maxBufferedBytes: MAX_BUFFERED_BYTES,
    sessions: { store },
    metrics: new LifecycleMetrics(provider.getMeter('ws-lifecycle'), { topics: [NAMED_TOPIC] })
  }
});

async function main(): Promise<void> {
  await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const { tally, end } = await runLoad(`ws://127.0.0.1:${port}/ws`, lifecycle.manager, store);
  try {
    const scrape = await fetch(`http://127.0.0.1:${port}/metrics`);
    process.stdout.write(await scrape.text());
    process.stderr.write(`load: ${JSON.stringify(tally)}\n`);
  } finally {
    end();
  }
  if (serve) {
    process.stderr.write(`serving http://127.0.0.1:${port}/metrics until SIGINT or SIGTERM\n`);
  }
  await stopped;
  await lifecycle.close();
  await new Promise((resolve) => server.close(resolve));
  await provider.shutdown();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
  server.closeAllConnections();
  server.close();
  void provider.shutdown();
});
