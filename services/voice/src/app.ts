import { createHttpServer, type App } from '@offload/platform/http';
import type { VoiceDeps } from './deps.js';
import { voiceRoutes } from './routes/voice.js';

export const SERVICE_VERSION = '0.1.0';

/** Builds the voice HTTP app; it never listens (server.ts does). */
export async function buildVoiceApp(deps: VoiceDeps): Promise<App> {
  const app = await createHttpServer({
    service: 'voice',
    version: SERVICE_VERSION,
    logger: deps.logger,
    openapi: { title: 'Offload Cloud voice', description: 'Live voice transcription' },
    readiness: {
      postgres: () => deps.database.ping(),
      nats: async () => {
        if (deps.bus.nc.isClosed()) throw new Error('nats closed');
        await deps.bus.nc.flush();
      },
    },
  });
  await app.register(voiceRoutes(deps));
  return app;
}
