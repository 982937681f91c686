/**
 * Prometheus metrics of the Node server (`GET /metrics`), through prom-client: requests by route,
 * status and model, latency histograms, the check queue and each model's load state.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ModelRegistry } from '@blankspot/core';
import type { RequestRecord } from '../request-log.js';

export class NodeMetrics {
  private readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'blankspot_requests_total',
    help: 'Requests answered, by route, status, error code and model.',
    labelNames: ['route', 'status', 'code', 'model'] as const,
    registers: [this.registry],
  });
  private readonly verdicts = new Counter({
    name: 'blankspot_verdicts_total',
    help: 'Photos checked, by model and verdict.',
    labelNames: ['model', 'flagged'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'blankspot_request_duration_seconds',
    help: 'Time from request to answer, by route.',
    labelNames: ['route'] as const,
    buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  private readonly inference = new Histogram({
    name: 'blankspot_inference_duration_seconds',
    help: 'Model run time per checked photo, by model.',
    labelNames: ['model'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1],
    registers: [this.registry],
  });
  private readonly queue = new Gauge({
    name: 'blankspot_checks_in_progress',
    help: 'Checks running and waiting in the queue.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  private readonly models = new Gauge({
    name: 'blankspot_model_loaded',
    help: '1 when the model is loaded and ready, 0 when it failed or is not loaded yet.',
    labelNames: ['model', 'default'] as const,
    registers: [this.registry],
  });

  readonly contentType = this.registry.contentType;

  /** A request observer (see request-log.ts). */
  readonly observe = (r: RequestRecord): void => {
    const model = r.model ?? '';
    this.requests.inc({ route: r.route, status: String(r.status), code: r.error ?? '', model });
    this.duration.observe({ route: r.route }, r.durationMs / 1000);
    if (r.flagged != null) this.verdicts.inc({ model, flagged: String(r.flagged) });
    if (r.timings) this.inference.observe({ model }, r.timings.inferenceMs / 1000);
  };

  async render(load: { running: number; waiting: number }, registry: ModelRegistry): Promise<string> {
    this.queue.set({ state: 'running' }, load.running);
    this.queue.set({ state: 'waiting' }, load.waiting);
    for (const s of registry.list()) {
      this.models.set({ model: s.entry.name, default: String(s.entry.name === registry.defaultName) }, s.session ? 1 : 0);
    }
    return this.registry.metrics();
  }
}
