import { serve } from '@offload/platform/service';
import { buildAiApp } from './app.js';
import { loadAiConfig } from './config.js';
import { createAiRuntime } from './deps.js';

const config = loadAiConfig();
const runtime = await createAiRuntime(config);
const app = await buildAiApp(runtime);
await serve(app, { port: config.PORT, host: config.HOST, logger: runtime.logger, onClose: [runtime.close] });
