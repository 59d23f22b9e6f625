// Container health check: the process's own /health/ready (PORT for services, GATEWAY_PORT for the gateway).
const port = process.env.GATEWAY_PORT ?? process.env.PORT ?? '8080';
try {
  const response = await fetch(`http://127.0.0.1:${port}/health/ready`, {
    signal: AbortSignal.timeout(2_500),
  });
  process.exit(response.ok ? 0 : 1);
} catch {
  process.exit(1);
}
