import { createHash } from 'node:crypto';

/**
 * Devices are stored only as the SHA-256 (hex) of their install id, as identity stores them: a meter
 * row never reveals the id itself. Logs may carry the first 8 characters at most.
 */
export function hashInstallId(installId: string): string {
  return createHash('sha256').update(installId, 'utf8').digest('hex');
}
