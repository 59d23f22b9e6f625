import { serve } from '@offload/platform/service';
import { buildVoiceApp } from './app.js';
import { loadVoiceConfig } from './config.js';
import { createVoiceRuntime } from './deps.js';

const config = loadVoiceConfig();
const runtime = await createVoiceRuntime(config);
const app = await buildVoiceApp(runtime);
await serve(app, { port: config.PORT, host: config.HOST, logger: runtime.logger, onClose: [runtime.close] });
