import { serve } from '@offload/platform/service';
import { buildBillingApp } from './app.js';
import { loadBillingConfig } from './config.js';
import { createBillingRuntime } from './deps.js';

const config = loadBillingConfig();
const runtime = await createBillingRuntime(config);
const app = await buildBillingApp(runtime);
await serve(app, { port: config.PORT, host: config.HOST, logger: runtime.logger, onClose: [runtime.close] });
