import { serve } from '@offload/platform/service';
import { buildTasksApp } from './app.js';
import { loadTasksConfig } from './config.js';
import { createTasksRuntime } from './deps.js';

const config = loadTasksConfig();
const runtime = await createTasksRuntime(config);
const app = await buildTasksApp(runtime);
await serve(app, { port: config.PORT, host: config.HOST, logger: runtime.logger, onClose: [runtime.close] });
