import { baseServiceEnv, env, loadConfig } from '@offload/platform/config';
import type { z } from 'zod';

export const VoiceEnv = baseServiceEnv.extend({
  PORT: env.port(3006),
});
export type VoiceConfig = z.infer<typeof VoiceEnv>;

export const loadVoiceConfig = (source: Record<string, string | undefined> = process.env) =>
  loadConfig('voice', VoiceEnv, source);
