import { serve } from '@offload/platform/service';
import { buildUsageApp } from './app.js';
import { loadUsageConfig } from './config.js';
import { createUsageRuntime } from './deps.js';

const config = loadUsageConfig();
const runtime = await createUsageRuntime(config);
const app = await buildUsageApp(runtime);
await serve(app, { port: config.PORT, host: config.HOST, logger: runtime.logger, onClose: [runtime.close] });
