import type { ServiceModule } from '@offload/testing';
import { buildVoiceApp } from '../src/app.js';
import { loadVoiceConfig, type VoiceConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createVoiceRuntime, type VoiceRuntime } from '../src/deps.js';

/** The voice service as `buildTestApp` builds it: the same pieces server.ts uses. */
export const voiceService: ServiceModule<VoiceConfig, VoiceRuntime> = {
  name: 'voice',
  migrate,
  loadConfig: loadVoiceConfig,
  createRuntime: createVoiceRuntime,
  buildApp: buildVoiceApp,
};
