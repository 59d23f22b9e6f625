import { serve } from '@offload/platform/service';
import { buildGatewayApp } from './app.js';
import { loadGatewayConfig } from './config.js';
import { createGatewayRuntime } from './deps.js';

const config = loadGatewayConfig();
const runtime = await createGatewayRuntime(config);
const app = await buildGatewayApp(runtime);
await serve(app, {
  port: config.GATEWAY_PORT,
  host: config.HOST,
  logger: runtime.logger,
  onClose: [runtime.close],
});
