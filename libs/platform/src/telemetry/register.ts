/**
 * Loaded with `node --import @offload/platform/telemetry/register` before the service itself, so the
 * SDK is running before any instrumented module loads.
 */
import { startTelemetry } from './index.js';

if (process.env.OTEL_SDK_DISABLED !== 'true') {
  const ratio = Number(process.env.OTEL_TRACES_SAMPLER_ARG ?? '1');
  const telemetry = startTelemetry({
    serviceName: process.env.OTEL_SERVICE_NAME ?? 'offload-cloud',
    serviceVersion: process.env.npm_package_version,
    otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT,
    sampleRatio: Number.isFinite(ratio) ? Math.min(Math.max(ratio, 0), 1) : 1,
  });
  process.once('beforeExit', () => void telemetry.shutdown());
}
