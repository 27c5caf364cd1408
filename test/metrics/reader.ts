/** An OpenTelemetry metric reader the metrics tests collect on demand, and read by metric name. */
import { MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';

export class TestReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }

  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Every data point of the metric named `name` (its OpenTelemetry name), with its attributes. */
  async points(name: string): Promise<Array<DataPoint<number | Histogram>>> {
    const { resourceMetrics } = await this.collect();
    const metrics = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.filter((metric) => metric.descriptor.name === name));
    return metrics.flatMap((metric) => metric.dataPoints as Array<DataPoint<number | Histogram>>);
  }
}
