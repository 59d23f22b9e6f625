import { serve } from '@offload/platform/service';
import { buildIdentityApp } from './app.js';
import { loadIdentityConfig } from './config.js';
import { createIdentityRuntime } from './deps.js';

const config = loadIdentityConfig();
const runtime = await createIdentityRuntime(config);
const app = await buildIdentityApp(runtime);
await serve(app, { port: config.PORT, host: config.HOST, logger: runtime.logger, onClose: [runtime.close] });
