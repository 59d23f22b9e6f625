import { randomUUID } from 'node:crypto';

/** Plausible inputs with unique values, so tests never collide on shared state. */
export const factories = {
  installId: () => `install-${randomUUID()}`,
  anonymousSession: (
    overrides: Partial<{ install_id: string; app_version: string; platform: string }> = {},
  ) => ({
    install_id: factories.installId(),
    app_version: '1.0.0',
    platform: 'ios',
    ...overrides,
  }),
  task: (
    overrides: Partial<{
      title: string;
      description: string | null;
      priority: 'low' | 'medium' | 'high';
      due_date: string | null;
    }> = {},
  ) => ({ title: `task ${randomUUID().slice(0, 8)}`, priority: 'medium' as const, ...overrides }),
};
